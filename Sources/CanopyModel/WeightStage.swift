/// The parts of a transformer block that weight streaming places and reads separately, in
/// the order a forward pass uses them: smaller units than whole blocks mean a smaller
/// streaming window, so more of a budget holds resident weights.
///
/// A block's matrix belongs to the stage its name says (`WeightStage.of(tensorName:)`):
/// attention (`attn_*`), then the feed-forward network's input side (gate and up, a mixture
/// of experts' router and experts), then its down projection (`ffn_down.weight`). A stage
/// without matrices (the down projection of a block whose experts are all one stage) is
/// never streamed.
public enum WeightStage: Int, CaseIterable, Sendable {
    case attention
    case feedForwardInput
    case feedForwardOutput

    /// The stage of a tensor of block `blk.<i>.` by the rest of its name, e.g. `attn_q.weight`.
    public static func of(tensorName name: String) -> WeightStage {
        if name.hasPrefix("attn_") { return .attention }
        if name == "ffn_down.weight" { return .feedForwardOutput }
        return .feedForwardInput
    }

    /// How errors and logs name it.
    var label: String {
        switch self {
        case .attention: return "attention"
        case .feedForwardInput: return "feed-forward input"
        case .feedForwardOutput: return "feed-forward output"
        }
    }
}
