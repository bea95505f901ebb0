/// Where speculative proposals come from (`--speculative`).
public enum SpeculativeMode: String, Sendable, CaseIterable {
    /// No proposals unless a request asks for them.
    case off
    /// Prompt lookup: n-grams of the sequence's own context (`NGramProposer`).
    case ngram
    /// A draft model with the same vocabulary proposes (`--draft-model`, `DraftModel`).
    case draft

    /// Proposals per step a sequence may verify: the one range the engine, the daemon's
    /// flags and the request field all check against.
    public static let tokenRange = 1...32
}
