/// Speculative decoding counters since the engine started (see `SpeculationState`), and the
/// verification cost proposals are weighed against now.
public struct SpeculationStats: Sendable, Equatable {
    /// Sequence steps that verified proposals (one per speculating sequence per step).
    public var chunks = 0
    /// Proposed tokens verified.
    public var proposedTokens = 0
    /// Of those, tokens accepted (equal to what the model chose).
    public var acceptedTokens = 0
    /// Seconds spent finding proposals.
    public var draftingSeconds = 0.0
    /// What one more token adds to a decode step, as a share of a one-token step: the cost
    /// proposals are weighed against now (`VerificationCostModel.cost`).
    public var verificationTokenCost = 0.0

    /// Creates zeroed counters, or the given ones.
    public init(
        chunks: Int = 0, proposedTokens: Int = 0, acceptedTokens: Int = 0, draftingSeconds: Double = 0,
        verificationTokenCost: Double = 0
    ) {
        self.chunks = chunks
        self.proposedTokens = proposedTokens
        self.acceptedTokens = acceptedTokens
        self.draftingSeconds = draftingSeconds
        self.verificationTokenCost = verificationTokenCost
    }

    /// Accepted over proposed tokens; 0 before any proposal.
    public var acceptanceRate: Double { proposedTokens == 0 ? 0 : Double(acceptedTokens) / Double(proposedTokens) }

    /// Tokens a speculating sequence step produced on average: the accepted proposals and
    /// the model's own next token; 0 before any.
    public var tokensPerChunk: Double { chunks == 0 ? 0 : Double(acceptedTokens + chunks) / Double(chunks) }
}
