import CanopyGGUF

/// The hyperparameters of a decoder-only transformer, decoded from GGUF metadata.
///
/// Every value comes from the file (`{arch}.block_count`, `{arch}.embedding_length`, ...);
/// nothing is assumed from the model's name. Invariants checked at decode time:
/// `headCount % headCountKV == 0`, `embeddingLength == headCount * headDimension` unless the
/// file says otherwise through `attention.key_length`, and all sizes are positive.
public struct ModelConfig: Sendable, Equatable {
    /// `general.architecture`, e.g. `llama`.
    public var architecture: String
    /// Number of rows of the token embedding.
    public var vocabularySize: Int
    /// Longest sequence the model was trained for (`{arch}.context_length`).
    public var contextLength: Int
    /// Width of the residual stream.
    public var embeddingLength: Int
    /// Number of transformer blocks.
    public var blockCount: Int
    /// Query heads per block.
    public var headCount: Int
    /// Key/value heads per block (grouped-query attention when smaller than `headCount`).
    public var headCountKV: Int
    /// Size of one attention head.
    public var headDimension: Int
    /// Hidden width of the feed-forward network.
    public var feedForwardLength: Int
    /// RoPE frequency base.
    public var ropeFrequencyBase: Float
    /// Leading dimensions of each head that RoPE rotates.
    public var ropeDimensionCount: Int
    /// RMSNorm epsilon.
    public var rmsNormEpsilon: Float
    /// Mixture-of-experts hyperparameters; nil for a dense model.
    public var experts: ExpertConfig?
    /// Keys a sliding-window layer's query sees, itself included
    /// (`{arch}.attention.sliding_window`); nil when every layer attends to the whole context.
    public var slidingWindow: Int?
    /// Every `slidingWindowPattern`-th layer attends globally, the others through the
    /// window (`{arch}.attention.sliding_window_pattern`); nil when the file does not say
    /// (the architecture's default applies).
    public var slidingWindowPattern: Int?
    /// RoPE base of the sliding-window layers (`{arch}.rope.freq_base_swa`); nil when the
    /// file does not say (llama.cpp's default is 10000).
    public var slidingWindowRopeBase: Float?

    /// Width of all query heads together.
    public var queryWidth: Int { headCount * headDimension }
    /// Width of all key (or value) heads together.
    public var keyValueWidth: Int { headCountKV * headDimension }

    /// Decodes the configuration of the file's architecture.
    public init(gguf file: GGUFFile) throws(ModelError) {
        guard let arch = file.string("general.architecture") else {
            throw .missingMetadata(key: "general.architecture")
        }
        architecture = arch
        func required(_ suffix: String) throws(ModelError) -> Int {
            let key = "\(arch).\(suffix)"
            guard let value = file.int(key) else { throw .missingMetadata(key: key) }
            guard value > 0 else { throw .invalidMetadata(key: key, reason: "must be positive, is \(value)") }
            return value
        }
        embeddingLength = try required("embedding_length")
        blockCount = try required("block_count")
        contextLength = try required("context_length")
        feedForwardLength = try required("feed_forward_length")
        headCount = try required("attention.head_count")
        headCountKV = file.int("\(arch).attention.head_count_kv") ?? headCount
        guard headCountKV > 0, headCount % headCountKV == 0 else {
            throw .invalidMetadata(
                key: "\(arch).attention.head_count_kv",
                reason: "\(headCountKV) does not divide the \(headCount) query heads")
        }
        if let keyLength = file.int("\(arch).attention.key_length") {
            headDimension = keyLength
        } else {
            guard embeddingLength % headCount == 0 else {
                throw .invalidMetadata(
                    key: "\(arch).attention.head_count",
                    reason: "\(headCount) heads do not divide the embedding length \(embeddingLength)")
            }
            headDimension = embeddingLength / headCount
        }
        ropeDimensionCount = file.int("\(arch).rope.dimension_count") ?? headDimension
        guard ropeDimensionCount > 0, ropeDimensionCount <= headDimension, ropeDimensionCount % 2 == 0 else {
            throw .invalidMetadata(
                key: "\(arch).rope.dimension_count",
                reason: "\(ropeDimensionCount) must be even and at most the head size \(headDimension)")
        }
        ropeFrequencyBase = Float(file.float("\(arch).rope.freq_base") ?? 10_000)
        guard ropeFrequencyBase > 0 else {
            throw .invalidMetadata(key: "\(arch).rope.freq_base", reason: "must be positive")
        }
        guard let eps = file.float("\(arch).attention.layer_norm_rms_epsilon") else {
            throw .missingMetadata(key: "\(arch).attention.layer_norm_rms_epsilon")
        }
        rmsNormEpsilon = Float(eps)
        if let vocab = file.int("\(arch).vocab_size") {
            vocabularySize = vocab
        } else if let embedding = file.tensor(named: "token_embd.weight"), embedding.dimensions.count == 2 {
            vocabularySize = embedding.dimensions[1]
        } else {
            throw .missingMetadata(key: "\(arch).vocab_size")
        }
        experts = try ExpertConfig(gguf: file, architecture: arch, feedForwardLength: feedForwardLength)
        if let window = file.int("\(arch).attention.sliding_window"), window > 0 {
            slidingWindow = window
        }
        if let pattern = file.int("\(arch).attention.sliding_window_pattern") {
            guard pattern > 0 else {
                throw .invalidMetadata(key: "\(arch).attention.sliding_window_pattern", reason: "must be positive")
            }
            slidingWindowPattern = pattern
        }
        if let base = file.float("\(arch).rope.freq_base_swa") {
            guard base > 0 else { throw .invalidMetadata(key: "\(arch).rope.freq_base_swa", reason: "must be positive") }
            slidingWindowRopeBase = Float(base)
        }
    }
}
