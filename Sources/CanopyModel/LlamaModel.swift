import CanopyKernels

/// The Llama architecture as GGUF describes it: token embedding, pre-norm blocks of
/// grouped-query attention with RoPE and a SwiGLU feed-forward network, a final RMSNorm and
/// an output projection (tied to the embedding when the file has no `output.weight`).
public struct LlamaModel: CausalLanguageModel, ExpertLoadReporting {
    /// Weights of one transformer block.
    struct Block: Sendable {
        var attentionNorm: [Float]
        var query: WeightMatrix
        var key: WeightMatrix
        var value: WeightMatrix
        var attentionOutput: WeightMatrix
        var feedForwardNorm: [Float]
        var feedForward: FeedForwardWeights
    }

    public let config: ModelConfig
    /// How matrix products treat activations; `.quantizedActivations` follows llama.cpp.
    public let precision: MatMulPrecision
    let store: WeightStore
    let tokenEmbedding: WeightMatrix
    let blocks: [Block]
    let outputNorm: [Float]
    let output: WeightMatrix
    let rope: RoPE
    let scratchPool: ForwardScratchPool
    /// Per block: [query, key, value] and [gate, up], built once so a pass allocates nothing.
    let projectionGroups: [[WeightMatrix]]
    let feedForwardGroups: [[WeightMatrix]]
    /// Tokens routed per block and expert (Mixtral-style files); nil for dense models.
    public let expertLoad: ExpertLoadCounters?

    /// Binds every weight the configuration implies, checking names and shapes.
    public init(store: WeightStore, config: ModelConfig, precision: MatMulPrecision) throws(ModelError) {
        self.store = store
        self.config = config
        self.precision = precision
        let e = config.embeddingLength
        tokenEmbedding = try store.matrix("token_embd.weight", rows: config.vocabularySize, cols: e)
        var blocks: [Block] = []
        for i in 0..<config.blockCount {
            let p = "blk.\(i)."
            blocks.append(Block(
                attentionNorm: try store.vector(p + "attn_norm.weight", count: e),
                query: try store.matrix(p + "attn_q.weight", rows: config.queryWidth, cols: e),
                key: try store.matrix(p + "attn_k.weight", rows: config.keyValueWidth, cols: e),
                value: try store.matrix(p + "attn_v.weight", rows: config.keyValueWidth, cols: e),
                attentionOutput: try store.matrix(p + "attn_output.weight", rows: e, cols: config.queryWidth),
                feedForwardNorm: try store.vector(p + "ffn_norm.weight", count: e),
                feedForward: try FeedForwardWeights(store: store, config: config, prefix: p)))
        }
        self.blocks = blocks
        outputNorm = try store.vector("output_norm.weight", count: e)
        if store.contains("output.weight") {
            output = try store.matrix("output.weight", rows: config.vocabularySize, cols: e)
        } else {
            output = tokenEmbedding
        }
        rope = RoPE(dimensions: config.ropeDimensionCount, frequencyBase: config.ropeFrequencyBase)
        scratchPool = ForwardScratchPool(config: config)
        projectionGroups = blocks.map { [$0.query, $0.key, $0.value] }
        feedForwardGroups = blocks.map { block in
            if case .dense(let gate, let up, _) = block.feedForward { return [gate, up] }
            return []
        }
        expertLoad = ExpertLoadCounters.forModel(config)
    }

    public func forward(_ batch: ForwardBatch, kv: KVStorage) -> [Float] {
        let n = batch.count
        precondition(n > 0, "empty forward batch")
        let c = config
        precondition(kv.layout.layers == c.blockCount && kv.layout.kvHeads == c.headCountKV
                     && kv.layout.headDimension == c.headDimension, "KV layout does not match the model")
        return scratchPool.withScratch(tokens: n) { scratch in
            withAttentionSequences(batch) { sequences in
                forward(batch, kv: kv, scratch: scratch, sequences: sequences)
            }
        }
    }

    private func forward(
        _ batch: ForwardBatch, kv: KVStorage, scratch: ForwardScratch, sequences: [AttentionSequence]
    ) -> [Float] {
        let n = batch.count
        let c = config
        let e = c.embeddingLength

        for t in 0..<n {
            let token = Int(batch.tokens[t])
            precondition(token >= 0 && token < c.vocabularySize, "token id \(token) outside the vocabulary")
            tokenEmbedding.dequantizeRow(token, into: scratch.residual + t * e)
        }
        // RoPE angles depend only on the position; compute them once per token for all layers.
        let half = c.ropeDimensionCount / 2
        for slice in batch.sequences {
            for i in 0..<slice.tokenCount {
                let t = slice.tokenStart + i
                rope.angles(position: slice.firstPosition + i, cosines: scratch.cosines + t * half, sines: scratch.sines + t * half)
            }
        }

        for (layer, block) in blocks.enumerated() {
            attention(block: block, layer: layer, batch: batch, sequences: sequences, kv: kv, scratch: scratch)
            feedForward(block: block, layer: layer, tokens: n, scratch: scratch)
        }

        let rows = batch.sequences.filter(\.wantsLogits).map { $0.tokenStart + $0.tokenCount - 1 }
        guard !rows.isEmpty else { return [] }
        let normed = UnsafeMutablePointer<Float>.allocate(capacity: rows.count * e)
        defer { normed.deallocate() }
        outputNorm.withUnsafeBufferPointer { w in
            for (i, t) in rows.enumerated() {
                RMSNorm.apply(scratch.residual + t * e, weight: w.baseAddress!, count: e,
                              epsilon: c.rmsNormEpsilon, output: normed + i * e)
            }
        }
        return [Float](unsafeUninitializedCapacity: rows.count * c.vocabularySize) { buffer, initialized in
            MatMul.multiply(output, input: normed, tokens: rows.count, output: buffer.baseAddress!, precision: precision)
            initialized = rows.count * c.vocabularySize
        }
    }

    private func attention(
        block: Block, layer: Int, batch: ForwardBatch, sequences: [AttentionSequence], kv: KVStorage,
        scratch: ForwardScratch
    ) {
        let c = config
        let n = batch.count
        let e = c.embeddingLength
        block.attentionNorm.withUnsafeBufferPointer { w in
            forEachTokenRange(n) { tokens in
                for t in tokens {
                    RMSNorm.apply(scratch.residual + t * e, weight: w.baseAddress!, count: e,
                                  epsilon: c.rmsNormEpsilon, output: scratch.normed + t * e)
                }
            }
        }
        MatMul.multiply(projectionGroups[layer], input: scratch.normed, tokens: n, outputs: scratch.projections,
                        precision: precision)
        let half = c.ropeDimensionCount / 2
        // Each token rotates its own rows and writes its own KV slot: disjoint memory.
        batch.slots.withUnsafeBufferPointer { slots in
            forEachTokenRange(n) { tokens in
                for t in tokens {
                    let cosines = scratch.cosines + t * half
                    let sines = scratch.sines + t * half
                    rope.rotate(scratch.query + t * c.queryWidth, heads: c.headCount, headDimension: c.headDimension,
                                cosines: cosines, sines: sines)
                    rope.rotate(scratch.key + t * c.keyValueWidth, heads: c.headCountKV, headDimension: c.headDimension,
                                cosines: cosines, sines: sines)
                    PagedAttention.store(
                        key: scratch.key + t * c.keyValueWidth, value: scratch.value + t * c.keyValueWidth,
                        arena: kv.base, layout: kv.layout, layer: layer, block: slots[t].block, offset: slots[t].offset)
                }
            }
        }
        if kv.layout.precision == .f16 {
            // llama.cpp's flash attention converts queries to the cache's f16 before the K·Q
            // dot; doing the same keeps our greedy choices on its side of near ties.
            HalfFloat.roundRowToHalf(scratch.query, count: n * c.queryWidth)
        }
        // Every token's K/V row is stored; now each query attends over its sequence's pages.
        PagedAttention.attend(
            sequences: sequences, queries: scratch.query, headCount: c.headCount,
            arena: kv.base, layout: kv.layout, layer: layer, output: scratch.mixed)
        MatMul.multiply(block.attentionOutput, input: scratch.mixed, tokens: n, output: scratch.normed, precision: precision)
        addResidual(scratch, tokens: n)
    }

    /// Presents the batch's slices to the attention kernel, whose descriptors borrow the
    /// block tables' storage for the duration of `body` (built once per pass, for every layer).
    private func withAttentionSequences<R>(_ batch: ForwardBatch, _ body: ([AttentionSequence]) -> R) -> R {
        // Flatten the tables into one buffer so every descriptor can point into it.
        let flat = batch.sequences.flatMap(\.blockTable)
        return flat.withUnsafeBufferPointer { tables in
            var offset = 0
            var sequences: [AttentionSequence] = []
            sequences.reserveCapacity(batch.sequences.count)
            for slice in batch.sequences {
                sequences.append(AttentionSequence(
                    queryStart: slice.tokenStart, queryCount: slice.tokenCount,
                    firstPosition: slice.firstPosition, blockTable: tables.baseAddress! + offset))
                offset += slice.blockTable.count
            }
            return body(sequences)
        }
    }

    private func feedForward(block: Block, layer: Int, tokens n: Int, scratch: ForwardScratch) {
        let c = config
        let e = c.embeddingLength
        block.feedForwardNorm.withUnsafeBufferPointer { w in
            forEachTokenRange(n) { tokens in
                for t in tokens {
                    RMSNorm.apply(scratch.residual + t * e, weight: w.baseAddress!, count: e,
                                  epsilon: c.rmsNormEpsilon, output: scratch.normed + t * e)
                }
            }
        }
        switch block.feedForward {
        case .dense(let gate, _, let down):
            MatMul.multiply(feedForwardGroups[layer], input: scratch.normed, tokens: n, outputs: scratch.feedForwardInputs,
                            precision: precision)
            let f = gate.rows
            forEachTokenRange(n) { tokens in
                Activation.swiGLU(gate: scratch.gate + tokens.lowerBound * f, up: scratch.up + tokens.lowerBound * f,
                                  count: tokens.count * f)
            }
            MatMul.multiply(down, input: scratch.gate, tokens: n, output: scratch.normed, precision: precision)
        case .experts(let experts):
            experts.apply(scratch.normed, tokens: n, embedding: e, precision: precision, layer: layer, load: expertLoad)
        }
        addResidual(scratch, tokens: n)
    }

    /// residual += normed, token rows split across the worker pool.
    private func addResidual(_ scratch: ForwardScratch, tokens n: Int) {
        let e = config.embeddingLength
        forEachTokenRange(n) { tokens in
            for i in (tokens.lowerBound * e)..<(tokens.upperBound * e) { scratch.residual[i] += scratch.normed[i] }
        }
    }

    /// Runs `body` over ranges of token rows covering 0..<n, on the worker pool when the batch
    /// is large enough to pay for a fork-join. Token rows are independent (norms, RoPE, SwiGLU,
    /// residual adds), so the split never changes a result.
    private func forEachTokenRange(_ n: Int, _ body: (Range<Int>) -> Void) {
        let chunks = n >= 8 ? min(n, 2 * WorkerPool.shared.threadCount) : 1
        guard chunks > 1 else { return body(0..<n) }
        Parallel.forEach(chunks) { i in body((n * i / chunks)..<(n * (i + 1) / chunks)) }
    }
}
