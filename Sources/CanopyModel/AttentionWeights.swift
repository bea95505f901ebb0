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

    /// Binds block `prefix`'s attention weights, checking names and shapes; with `shard`, only
    /// that rank's heads: its rows of Q, K and V (and of their biases) and its columns of
    /// the output projection.
    init(
        store: WeightStore, config c: ModelConfig, prefix p: String, headNorms: HeadNorms, shard: TensorShard? = nil
    ) throws(ModelError) {
        let e = c.embeddingLength
        let d = c.headDimension
        let q = shard.map { ($0.queryHeads.lowerBound * d)..<($0.queryHeads.upperBound * d) } ?? 0..<c.queryWidth
        let kv = shard.map { ($0.keyValueHeads.lowerBound * d)..<($0.keyValueHeads.upperBound * d) } ?? 0..<c.keyValueWidth
        norm = try store.vector(p + "attn_norm.weight", count: e)
        if store.contains(p + "attn_qkv.weight") {
            // Phi-3's layout: the three projections stacked as rows q, k, v.
            let name = p + "attn_qkv.weight", rows = c.queryWidth + 2 * c.keyValueWidth
            let k = c.queryWidth
            let v = k + c.keyValueWidth
            if shard == nil {
                let fused = try store.matrix(name, rows: rows, cols: e)
                projections = [fused.rows(q), fused.rows((k + kv.lowerBound)..<(k + kv.upperBound)),
                               fused.rows((v + kv.lowerBound)..<(v + kv.upperBound))]
            } else {
                projections = [
                    try store.matrix(name, rows: rows, cols: e, part: .rows(q)),
                    try store.matrix(name, rows: rows, cols: e, part: .rows((k + kv.lowerBound)..<(k + kv.upperBound))),
                    try store.matrix(name, rows: rows, cols: e, part: .rows((v + kv.lowerBound)..<(v + kv.upperBound))),
                ]
            }
        } else {
            let rows: (Range<Int>) -> MatrixPart? = { range in shard == nil ? nil : .rows(range) }
            projections = [
                try store.matrix(p + "attn_q.weight", rows: c.queryWidth, cols: e, part: rows(q)),
                try store.matrix(p + "attn_k.weight", rows: c.keyValueWidth, cols: e, part: rows(kv)),
                try store.matrix(p + "attn_v.weight", rows: c.keyValueWidth, cols: e, part: rows(kv)),
            ]
        }
        func optional(_ name: String, _ count: Int, _ part: Range<Int>) throws(ModelError) -> [Float]? {
            store.contains(p + name) ? Array(try store.vector(p + name, count: count)[part]) : nil
        }
        queryBias = try optional("attn_q.bias", c.queryWidth, q)
        keyBias = try optional("attn_k.bias", c.keyValueWidth, kv)
        valueBias = try optional("attn_v.bias", c.keyValueWidth, kv)
        switch headNorms {
        case .required:
            queryNorm = try store.vector(p + "attn_q_norm.weight", count: c.headDimension)
            keyNorm = try store.vector(p + "attn_k_norm.weight", count: c.headDimension)
        case .absent:
            queryNorm = nil
            keyNorm = nil
        }
        output = try store.matrix(p + "attn_output.weight", rows: e, cols: c.queryWidth,
                                  part: shard == nil ? nil : .columns(q))
    }
}
