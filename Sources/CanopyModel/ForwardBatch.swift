/// The tokens one forward pass runs, possibly from several sequences at once.
///
/// Invariants (checked by `validate(cacheSlots:capacity:)`): all arrays have the same
/// length; a token at position `p` of slot `s` attends to positions `0...p` of that slot,
/// which must already be in the cache or earlier in this batch; positions of one slot
/// appear in increasing order.
public struct ForwardBatch: Sendable {
    /// Token ids to run.
    public var tokens: [Int32]
    /// Position of each token in its sequence (0-based).
    public var positions: [Int]
    /// KV-cache slot (sequence) of each token.
    public var slots: [Int]
    /// Whether the caller needs the logits after each token; only those rows are computed
    /// through the output projection, which is the largest matrix of small models.
    public var wantsLogits: [Bool]

    /// Creates an empty batch.
    public init() {
        tokens = []
        positions = []
        slots = []
        wantsLogits = []
    }

    /// Appends one token.
    public mutating func append(token: Int32, position: Int, slot: Int, wantsLogits: Bool) {
        tokens.append(token)
        positions.append(position)
        slots.append(slot)
        self.wantsLogits.append(wantsLogits)
    }

    /// Appends `tokens` of one sequence starting at `position`; only the last one wants logits
    /// when `logitsForLast` is set.
    public mutating func append(sequence tokens: [Int32], from position: Int, slot: Int, logitsForLast: Bool) {
        for (i, token) in tokens.enumerated() {
            append(token: token, position: position + i, slot: slot,
                   wantsLogits: logitsForLast && i == tokens.count - 1)
        }
    }

    /// Number of tokens in the batch.
    public var count: Int { tokens.count }

    /// Number of tokens whose logits are wanted.
    public var logitCount: Int { wantsLogits.reduce(0) { $0 + ($1 ? 1 : 0) } }
}
