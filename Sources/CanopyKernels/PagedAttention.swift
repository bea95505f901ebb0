/// Attention directly over the paged KV arena (`PagedKVLayout`), FlashAttention style.
///
/// Guarantees:
/// - no score matrix and no contiguous K/V copy: keys are streamed block by block with the
///   online softmax; scratch is bounded by the batch (at most 16 partial results per query
///   and head) and by fixed tile sizes, never by the sequence length;
/// - **batch invariance**: a query row's output is bitwise identical whatever else is in the
///   call, how its sequence's queries are chunked (prefill chunk or single decode query),
///   and however the work is spread over threads. Its keys `0...p` are split into
///   partitions whose boundaries depend only on `p`, each partition is reduced by the same
///   sequence of operations over the same chunks, and partitions are merged in order.
public enum PagedAttention {
    /// Writes one token's key and value rows (`layout.rowWidth` floats each, all KV heads)
    /// at position `offset` of block `block` for `layer`, encoded per `layout.precision`.
    public static func store(
        key: UnsafePointer<Float>, value: UnsafePointer<Float>, arena: UnsafeMutableRawPointer,
        layout: PagedKVLayout, layer: Int, block: Int32, offset: Int
    ) {
        precondition(layer >= 0 && layer < layout.layers, "layer \(layer) outside 0..<\(layout.layers)")
        precondition(block >= 0, "negative block id \(block)")
        precondition(offset >= 0 && offset < layout.blockSize, "offset \(offset) outside 0..<\(layout.blockSize)")
        let b = Int(block)
        KVRowCodec.encode(key, into: arena + layout.keyRowOffset(block: b, layer: layer, position: offset), layout: layout)
        KVRowCodec.encode(value, into: arena + layout.valueRowOffset(block: b, layer: layer, position: offset), layout: layout)
    }

    /// Causal grouped-query attention for every query row of every sequence: row `i` of a
    /// sequence (position `firstPosition + i`) attends to positions `0...firstPosition + i`
    /// of its own sequence, whose K/V rows must already be stored in `layer`.
    ///
    /// Plans the call and runs it; a forward pass should instead prepare one
    /// `PagedAttentionPlan` and call `attend(plan:...)` for each layer.
    ///
    /// - Parameters:
    ///   - queries: `batchRows × headCount × headDimension` floats, already RoPE-rotated;
    ///     query head `h` uses KV head `h / (headCount / layout.kvHeads)`.
    ///   - headCount: a positive multiple of `layout.kvHeads`.
    ///   - output: same shape as `queries`; rows not covered by a sequence are left alone.
    ///     Softmax scale is `1 / sqrt(headDimension)`.
    public static func attend(
        sequences: [AttentionSequence], queries: UnsafePointer<Float>, headCount: Int,
        arena: UnsafeRawPointer, layout: PagedKVLayout, layer: Int, output: UnsafeMutablePointer<Float>
    ) {
        let plan = PagedAttentionPlan()
        plan.prepare(sequences: sequences, headCount: headCount, layout: layout)
        attend(plan: plan, queries: queries, arena: arena, layer: layer, output: output)
    }

    /// `attend(sequences:...)` for the batch `plan` was prepared for, at `layer`: the same
    /// results, with no allocation (the plan holds every buffer the call needs).
    ///
    /// With a `window` (sliding-window layers: Gemma, Mistral), the query at position `p`
    /// attends only to positions `p - window + 1 ... p` (llama.cpp's standard SWA mask);
    /// its result for those keys is the same computation as without a window.
    ///
    /// - Precondition: `plan` was prepared, and its sequences' block tables are still valid;
    ///   `window`, when given, is positive.
    public static func attend(
        plan: PagedAttentionPlan, queries: UnsafePointer<Float>, arena: UnsafeRawPointer, layer: Int,
        output: UnsafeMutablePointer<Float>, window: Int? = nil
    ) {
        precondition(window.map { $0 > 0 } ?? true, "attention window must be positive")
        guard let layout = plan.layout else { preconditionFailure("attention plan was never prepared") }
        precondition(layer >= 0 && layer < layout.layers, "layer \(layer) outside 0..<\(layout.layers)")
        guard !plan.items.isEmpty else { return }
        let headCount = plan.headCount
        let hd = layout.headDimension
        let group = headCount / layout.kvHeads
        plan.kernel = PagedAttentionKernel(
            arena: arena, layout: layout, layer: layer, headCount: headCount, group: group,
            queries: queries, partials: plan.partials, chunkSize: plan.chunkSize, slotFloats: plan.slotFloats,
            maxVectors: plan.largestTileRows * group, scale: 1 / Float(hd).squareRoot(), window: window)
        plan.output = output
        defer { plan.kernel = nil }
        plan.phase = .tiles
        WorkerPool.shared.run(plan.items.count, plan)
        // Merging is cheap next to the key loop; a few queries per iteration keep the
        // dispatch overhead small.
        plan.phase = .merge
        WorkerPool.shared.run((plan.batchRows.count + PagedAttentionPlan.queriesPerMerge - 1) / PagedAttentionPlan.queriesPerMerge, plan)
    }
}
