/// One sequence's share of a batched `PagedAttention.attend` call.
///
/// Holds a pointer to the caller's block table, so it is not `Sendable`: build it for one
/// call, while the table is alive.
public struct AttentionSequence {
    /// Its first query row in the batch.
    public var queryStart: Int
    /// Its query rows, `queryStart ..< queryStart + queryCount`; row `i` is the token at
    /// position `firstPosition + i`.
    public var queryCount: Int
    /// Position of its first query row (tokens before it are already cached).
    public var firstPosition: Int
    /// Physical blocks in logical order, covering positions `0 ..< firstPosition + queryCount`
    /// (at least `ceil((firstPosition + queryCount) / blockSize)` entries).
    public var blockTable: UnsafePointer<Int32>

    /// Creates a sequence entry; see the properties for the meaning of each argument.
    public init(queryStart: Int, queryCount: Int, firstPosition: Int, blockTable: UnsafePointer<Int32>) {
        self.queryStart = queryStart
        self.queryCount = queryCount
        self.firstPosition = firstPosition
        self.blockTable = blockTable
    }

    /// Number of positions the last query attends to.
    var length: Int { firstPosition + queryCount }
}
