import CCanopyProto

extension CanopyV1 {
    /// Speculative decoding since start, under `--speculative` (`canopy.v1.SpeculationStats`).
    public struct SpeculationStats: Sendable, Equatable {
        /// Sequence steps that verified proposals.
        public var chunks: UInt64 = 0
        /// Proposed tokens verified.
        public var proposedTokens: UInt64 = 0
        /// Of those, tokens equal to what the model chose.
        public var acceptedTokens: UInt64 = 0
        /// Accepted over proposed tokens; 0 before any proposal.
        public var acceptanceRate = 0.0
        /// Tokens a speculating sequence step produced on average (accepted proposals plus
        /// the model's own next token); 0 before any.
        public var tokensPerChunk = 0.0
        /// Seconds spent finding proposals.
        public var draftingSeconds = 0.0
        /// What one more token adds to a decode step, as a share of a one-token step: the cost
        /// proposals are weighed against now (measured; the configured prior until then).
        public var verificationTokenCost = 0.0

        /// Creates zero statistics.
        public init() {}
    }
}

extension CanopyV1.SpeculationStats: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_speculation_stats_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__SpeculationStats> {
        let c = try arena.message(Canopy__V1__SpeculationStats.self, canopy__v1__speculation_stats__init)
        c.pointee.chunks = chunks
        c.pointee.proposed_tokens = proposedTokens
        c.pointee.accepted_tokens = acceptedTokens
        c.pointee.acceptance_rate = acceptanceRate
        c.pointee.tokens_per_chunk = tokensPerChunk
        c.pointee.drafting_seconds = draftingSeconds
        c.pointee.verification_token_cost = verificationTokenCost
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__SpeculationStats>) {
        let m = c.pointee
        self.init()
        chunks = m.chunks
        proposedTokens = m.proposed_tokens
        acceptedTokens = m.accepted_tokens
        acceptanceRate = m.acceptance_rate
        tokensPerChunk = m.tokens_per_chunk
        draftingSeconds = m.drafting_seconds
        verificationTokenCost = m.verification_token_cost
    }
}
