import CanopyKernels

/// The steps transformer blocks are made of, shared by the architectures as llama.cpp's
/// `build_norm` / `build_attn` / `build_ffn` are: an architecture file is a short
/// composition of these plus its own differences, and every architecture gets the same fast
/// paths (the fused norm + grouped product, the paged attention, the pooled token loops).
///
/// Each step works on one pass's `ForwardScratch` and computes the same bits whichever
/// architecture calls it, so batch invariance holds for all of them.
struct LayerSteps: Sendable {
    let config: ModelConfig
    let precision: MatMulPrecision
    /// The tensor-parallel group this rank's layers belong to; nil: one process, whole layers.
    var exchange: (any ShardExchange)? = nil
    /// The split products' column groups, in blocks (`TensorShard.columnGroups`, from the
    /// whole model's shape, so every rank and one process use the same); nil: summed in float.
    var columnGroups: (attentionOutput: Int?, feedForward: Int?) = (nil, nil)

    /// outputs = group · RMSNorm(residual)·norm: fused into the activation quantization when
    /// the group runs on the C integer kernels (the same bits), else through `scratch.normed`.
    func normalizeAndMultiply(
        _ group: [WeightMatrix], norm: [Float], tokens n: Int, outputs: [UnsafeMutablePointer<Float>],
        scratch: ForwardScratch
    ) {
        let fused = norm.withUnsafeBufferPointer { w in
            MatMul.multiplyNormalized(group, input: scratch.residual, normWeight: w.baseAddress!,
                                      epsilon: config.rmsNormEpsilon, tokens: n, outputs: outputs, precision: precision)
        }
        guard !fused else { return }
        normalize(norm: norm, tokens: n, scratch: scratch)
        MatMul.multiply(group, input: scratch.normed, tokens: n, outputs: outputs, precision: precision)
    }

    /// The attention inputs of one block: `scratch.query`, `.key` and `.value` =
    /// [q, k, v] · RMSNorm(residual)·norm, plus the biases when the block has them, then
    /// each query and key head RMS-normalised when it has head norms (before RoPE, as Qwen3
    /// and Gemma 3 do).
    func projectAttention(_ w: AttentionWeights, tokens n: Int, scratch: ForwardScratch) {
        let c = config
        normalizeAndMultiply(w.projections, norm: w.norm, tokens: n, outputs: scratch.projections, scratch: scratch)
        addBias(w.queryBias, to: scratch.query, tokens: n, scratch: scratch)
        addBias(w.keyBias, to: scratch.key, tokens: n, scratch: scratch)
        addBias(w.valueBias, to: scratch.value, tokens: n, scratch: scratch)
        if let norm = w.queryNorm {
            normalizeHeads(scratch.query, heads: c.headCount, norm: norm, tokens: n, scratch: scratch)
        }
        if let norm = w.keyNorm {
            normalizeHeads(scratch.key, heads: c.headCountKV, norm: norm, tokens: n, scratch: scratch)
        }
    }

    /// Every token row of `values` += `bias` (no-op for nil).
    func addBias(_ bias: [Float]?, to values: UnsafeMutablePointer<Float>, tokens n: Int, scratch: ForwardScratch) {
        guard let bias else { return }
        bias.withUnsafeBufferPointer { b in
            scratch.tokenLoops.run(.addRow(target: values, row: b.baseAddress!, width: b.count), tokens: n)
        }
    }

    /// normed = RMSNorm(residual) · norm, row by row.
    func normalize(norm: [Float], tokens n: Int, scratch: ForwardScratch) {
        normalize(scratch.residual, norm: norm, tokens: n, into: scratch.normed, scratch: scratch)
    }

    /// output = RMSNorm(input) · norm over rows of the embedding width (`output` may be
    /// `input`: a post-norm in place).
    func normalize(
        _ input: UnsafePointer<Float>, norm: [Float], tokens n: Int, into output: UnsafeMutablePointer<Float>,
        scratch: ForwardScratch
    ) {
        norm.withUnsafeBufferPointer { w in
            scratch.tokenLoops.run(.normalize(input: input, weight: w.baseAddress!, width: config.embeddingLength,
                                              epsilon: config.rmsNormEpsilon, output: output), tokens: n)
        }
    }

    /// Each head of `values` (query or key rows, `heads` per token) replaced by
    /// RMSNorm(head) · norm (Gemma's and Qwen3's q/k norms, before RoPE).
    func normalizeHeads(
        _ values: UnsafeMutablePointer<Float>, heads: Int, norm: [Float], tokens n: Int, scratch: ForwardScratch
    ) {
        norm.withUnsafeBufferPointer { w in
            scratch.tokenLoops.run(.normalizeHeads(values: values, heads: heads, headDimension: config.headDimension,
                                                   weight: w.baseAddress!, epsilon: config.rmsNormEpsilon), tokens: n)
        }
    }

    /// Rotates the batch's queries and keys (`scratch.query`, `scratch.key`) with `rope` at
    /// the angles `cosines`/`sines`, stores every token's K/V row in its slot, attends
    /// (through the last `window` positions only, when given), and multiplies the mixed
    /// heads by `output` into `scratch.normed`.
    func attend(
        layer: Int, batch: ForwardBatch, kv: KVStorage, scratch: ForwardScratch, rope: RoPE,
        cosines: UnsafePointer<Float>, sines: UnsafePointer<Float>, window: Int? = nil, output: WeightMatrix
    ) {
        let c = config
        let n = batch.count
        // Each token rotates its own rows and writes its own KV slot: disjoint memory.
        batch.slots.withUnsafeBufferPointer { slots in
            scratch.tokenLoops.run(.rotateAndStore(TokenLoops.RotateAndStore(
                rope: rope, headCount: c.headCount, kvHeadCount: c.headCountKV, headDimension: c.headDimension,
                query: scratch.query, key: scratch.key, value: scratch.value, cosines: cosines,
                sines: sines, slots: slots.baseAddress!, kv: kv, layer: layer)), tokens: n)
        }
        if kv.layout.precision == .f16 {
            // llama.cpp's flash attention converts queries to the cache's f16 before the K·Q
            // dot; doing the same keeps our greedy choices on its side of near ties.
            HalfFloat.roundRowToHalf(scratch.query, count: n * c.queryWidth)
        }
        // Every token's K/V row is stored; now each query attends over its sequence's pages.
        PagedAttention.attend(
            plan: scratch.attentionPlan, queries: scratch.query, arena: kv.base, layer: layer, output: scratch.mixed,
            window: window)
        projectSplit(output, input: scratch.mixed, tokens: n, groupBlocks: columnGroups.attentionOutput, scratch: scratch)
    }

    /// `scratch.normed` = `w` · `input` for a projection whose input columns tensor
    /// parallelism splits across ranks (the attention output, the feed-forward down): column
    /// groups of `groupBlocks` blocks summed in float and the groups in double
    /// (`MatMul.multiplySplitInvariant`), the ranks' doubles added in rank order, then
    /// rounded to float, so ranks split on group boundaries compute one process's bits.
    /// Weights without that kernel (K-quants, f16, `.float32`) or without groups multiply in
    /// float, and there a split rounds a little differently from the whole.
    func projectSplit(
        _ w: WeightMatrix, input: UnsafePointer<Float>, tokens n: Int, groupBlocks: Int?, scratch: ForwardScratch
    ) {
        let count = n * config.embeddingLength
        let wide = scratch.wideSums
        let grouped = groupBlocks.map {
            MatMul.multiplySplitInvariant(w, input: input, tokens: n, groupBlocks: $0, output: wide, precision: precision)
        } ?? false
        guard grouped else {
            MatMul.multiply(w, input: input, tokens: n, output: scratch.normed, precision: precision)
            exchange?.sum(scratch.normed, count: count, through: wide)
            return
        }
        exchange?.sum(wide, count: count)
        for i in 0..<count { scratch.normed[i] = Float(wide[i]) }
    }

    /// residual += normed, token rows split across the worker pool.
    func addResidual(_ scratch: ForwardScratch, tokens n: Int) {
        scratch.tokenLoops.run(.add(target: scratch.residual, source: scratch.normed, width: config.embeddingLength), tokens: n)
    }
}
