/// The tokens one forward pass runs, from any number of sequences at once.
///
/// Tokens are grouped per sequence: each `SequenceSlice` owns a contiguous range of
/// `tokens`, at consecutive positions starting at `firstPosition`, and names where each of
/// those tokens' keys and values go (`slots`) and which KV blocks the sequence reads
/// (`blockTable`). The model writes every token's K/V row first, then attends, so a token
/// sees the sequence's cached positions and the earlier tokens of its own slice.
public struct ForwardBatch: Sendable {
    /// One sequence's share of the batch.
    public struct SequenceSlice: Sendable {
        /// Index of the slice's first token in `ForwardBatch.tokens`.
        public var tokenStart: Int
        /// Number of tokens (a prefill chunk, or 1 for a decode step).
        public var tokenCount: Int
        /// Position of the first token in its sequence.
        public var firstPosition: Int
        /// Physical KV blocks of the sequence in logical order, covering every position up
        /// to `firstPosition + tokenCount - 1`.
        public var blockTable: [Int32]
        /// Whether the logits after the slice's last token are wanted.
        public var wantsLogits: Bool
    }

    /// Token ids to run.
    public private(set) var tokens: [Int32] = []
    /// Where each token's K/V row is written: (physical block, position within the block).
    public private(set) var slots: [(block: Int32, offset: Int)] = []
    /// The sequences, in batch order.
    public private(set) var sequences: [SequenceSlice] = []

    /// Creates an empty batch.
    public init() {}

    /// Appends `tokens` of one sequence starting at `firstPosition`.
    ///
    /// - Precondition: `slots.count == tokens.count` and `blockTable` covers the positions.
    public mutating func append(
        tokens newTokens: [Int32], firstPosition: Int, slots newSlots: [(block: Int32, offset: Int)],
        blockTable: [Int32], blockSize: Int, wantsLogits: Bool
    ) {
        precondition(!newTokens.isEmpty && newSlots.count == newTokens.count, "slice needs one slot per token")
        precondition(blockTable.count * blockSize >= firstPosition + newTokens.count, "block table too short")
        sequences.append(SequenceSlice(
            tokenStart: tokens.count, tokenCount: newTokens.count, firstPosition: firstPosition,
            blockTable: blockTable, wantsLogits: wantsLogits))
        tokens.append(contentsOf: newTokens)
        slots.append(contentsOf: newSlots)
    }

    /// Number of tokens in the batch.
    public var count: Int { tokens.count }

    /// Number of sequences whose logits are wanted (rows of the result).
    public var logitCount: Int { sequences.reduce(0) { $0 + ($1.wantsLogits ? 1 : 0) } }
}
