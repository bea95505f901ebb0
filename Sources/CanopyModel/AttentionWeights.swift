import CanopyKernels

/// One block's attention weights as the architectures store them, bound once at load:
/// the pre-attention norm, the query/key/value projections (separate tensors or one fused
/// `attn_qkv` viewed as three row ranges), their optional biases, the optional per-head
/// query/key norms and the output projection.
///
/// Whatever the file's layout, `projections` is always [query, key, value], so every
/// architecture runs the same fused norm + grouped product (`LayerSteps.projectAttention`).
struct AttentionWeights: Sendable {
    /// Whether a block's per-head query/key norms (`attn_q_norm`, `attn_k_norm`) must exist.
    enum HeadNorms: Sendable {
        /// Qwen3, Gemma 3: both norms are part of the architecture.
        case required
        /// Llama, Qwen2, Phi-3: the architecture has none.
        case absent
    }

    var norm: [Float]
    /// [query, key, value]: `queryWidth`, `keyValueWidth` and `keyValueWidth` rows.
    var projections: [WeightMatrix]
    /// Added to the projections' outputs when present (Qwen2's `attn_q.bias`, ...).
    var queryBias: [Float]?
    var keyBias: [Float]?
    var valueBias: [Float]?
    var queryNorm: [Float]?
    var keyNorm: [Float]?
    var output: WeightMatrix

    /// Binds block `prefix`'s attention weights, checking names and shapes.
    init(store: WeightStore, config c: ModelConfig, prefix p: String, headNorms: HeadNorms) throws(ModelError) {
        let e = c.embeddingLength
        norm = try store.vector(p + "attn_norm.weight", count: e)
        if store.contains(p + "attn_qkv.weight") {
            // Phi-3's layout: the three projections stacked as rows q, k, v.
            let fused = try store.matrix(p + "attn_qkv.weight", rows: c.queryWidth + 2 * c.keyValueWidth, cols: e)
            let k = c.queryWidth
            let v = k + c.keyValueWidth
            projections = [fused.rows(0..<k), fused.rows(k..<v), fused.rows(v..<(v + c.keyValueWidth))]
        } else {
            projections = [
                try store.matrix(p + "attn_q.weight", rows: c.queryWidth, cols: e),
                try store.matrix(p + "attn_k.weight", rows: c.keyValueWidth, cols: e),
                try store.matrix(p + "attn_v.weight", rows: c.keyValueWidth, cols: e),
            ]
        }
        func optional(_ name: String, _ count: Int) throws(ModelError) -> [Float]? {
            store.contains(p + name) ? try store.vector(p + name, count: count) : nil
        }
        queryBias = try optional("attn_q.bias", c.queryWidth)
        keyBias = try optional("attn_k.bias", c.keyValueWidth)
        valueBias = try optional("attn_v.bias", c.keyValueWidth)
        switch headNorms {
        case .required:
            queryNorm = try store.vector(p + "attn_q_norm.weight", count: c.headDimension)
            keyNorm = try store.vector(p + "attn_k_norm.weight", count: c.headDimension)
        case .absent:
            queryNorm = nil
            keyNorm = nil
        }
        output = try store.matrix(p + "attn_output.weight", rows: e, cols: c.queryWidth)
    }
}
