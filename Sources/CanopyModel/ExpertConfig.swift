import CanopyGGUF

/// How router logits become expert probabilities (`{arch}.expert_gating_func`, numbered as
/// llama.cpp numbers them).
public enum ExpertGatingFunction: Int, Sendable, Equatable {
    /// Softmax over all experts, then top-k of the probabilities (Mixtral, Qwen2-MoE).
    case softmax = 1
    /// Independent sigmoid per expert, then top-k.
    case sigmoid = 2
    /// Top-k of the raw logits, then a softmax over only the selected ones.
    case softmaxOfSelected = 3
}

/// The mixture-of-experts hyperparameters of a model, decoded from GGUF metadata.
///
/// Present only when the file declares experts (`{arch}.expert_count > 0`). Defaults follow
/// each family's llama.cpp graph where the file is silent: Mixtral (`llama`) renormalises the
/// selected weights, Qwen2-MoE does not.
public struct ExpertConfig: Sendable, Equatable {
    /// Routed experts per block (`{arch}.expert_count`).
    public var count: Int
    /// Experts each token is sent to (`{arch}.expert_used_count`), `1...count`.
    public var usedCount: Int
    /// Hidden width of one routed expert (`{arch}.expert_feed_forward_length`).
    public var feedForwardLength: Int
    /// Hidden width of the shared expert (`{arch}.expert_shared_feed_forward_length`), if the
    /// file states it; a model with shared-expert tensors falls back to `feed_forward_length`.
    public var sharedFeedForwardLength: Int?
    /// Whether the selected experts' weights are divided by their sum (`expert_weights_norm`).
    public var normalizesWeights: Bool
    /// Factor applied to the (possibly renormalised) weights (`expert_weights_scale`).
    public var weightsScale: Float
    /// How logits become probabilities (`expert_gating_func`).
    public var gating: ExpertGatingFunction

    /// Creates a configuration directly (tests, synthetic models).
    public init(
        count: Int, usedCount: Int, feedForwardLength: Int, sharedFeedForwardLength: Int? = nil,
        normalizesWeights: Bool, weightsScale: Float = 1, gating: ExpertGatingFunction = .softmax
    ) {
        precondition(count > 0 && usedCount > 0 && usedCount <= count, "need 1 ≤ used experts ≤ experts")
        precondition(feedForwardLength > 0, "expert feed-forward length must be positive")
        self.count = count
        self.usedCount = usedCount
        self.feedForwardLength = feedForwardLength
        self.sharedFeedForwardLength = sharedFeedForwardLength
        self.normalizesWeights = normalizesWeights
        self.weightsScale = weightsScale
        self.gating = gating
    }

    /// Decodes the expert metadata of `architecture`, or returns nil for a dense model.
    ///
    /// - Parameter feedForwardLength: the dense `feed_forward_length`, used as llama.cpp does
    ///   when `expert_feed_forward_length` is absent (Mixtral: the same width; Qwen2-MoE: that
    ///   width divided by the experts used).
    init?(gguf file: GGUFFile, architecture arch: String, feedForwardLength: Int) throws(ModelError) {
        guard let count = file.int("\(arch).expert_count"), count > 0 else { return nil }
        let usedKey = "\(arch).expert_used_count"
        guard let used = file.int(usedKey) else { throw .missingMetadata(key: usedKey) }
        guard used > 0, used <= count else {
            throw .invalidMetadata(key: usedKey, reason: "\(used) must be between 1 and the \(count) experts")
        }
        let ffnKey = "\(arch).expert_feed_forward_length"
        let ffn = file.int(ffnKey) ?? (arch == "qwen2moe" ? feedForwardLength / used : feedForwardLength)
        guard ffn > 0 else { throw .invalidMetadata(key: ffnKey, reason: "must be positive, is \(ffn)") }
        let sharedKey = "\(arch).expert_shared_feed_forward_length"
        let shared = file.int(sharedKey)
        if let shared, shared < 0 {
            throw .invalidMetadata(key: sharedKey, reason: "must not be negative, is \(shared)")
        }
        let gatingKey = "\(arch).expert_gating_func"
        let gatingValue = file.int(gatingKey) ?? 0
        // 0 is llama.cpp's "none": the architecture's default, which is softmax for the
        // families Canopy runs.
        guard let gating = gatingValue == 0 ? .softmax : ExpertGatingFunction(rawValue: gatingValue) else {
            throw .invalidMetadata(key: gatingKey, reason: "\(gatingValue) is not 1 (softmax), 2 (sigmoid) or 3 (softmax of the selected)")
        }
        let scaleKey = "\(arch).expert_weights_scale"
        let scale = Float(file.float(scaleKey) ?? 0)
        guard scale >= 0, scale.isFinite else {
            throw .invalidMetadata(key: scaleKey, reason: "must be a finite non-negative number, is \(scale)")
        }
        self.init(
            count: count, usedCount: used, feedForwardLength: ffn,
            sharedFeedForwardLength: shared.flatMap { $0 > 0 ? $0 : nil },
            normalizesWeights: file.bool("\(arch).expert_weights_norm") ?? (arch != "qwen2moe"),
            // llama.cpp stores 0 for "unset": no scaling.
            weightsScale: scale == 0 ? 1 : scale, gating: gating)
    }
}
