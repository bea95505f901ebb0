/// Identifies one sequence (one request's token stream) to the block manager. Chosen by the
/// caller; the manager only requires that live ids are unique.
public typealias SequenceID = Int

/// Where one token's K/V row lives: position `offset` (0..<blockSize) of physical block
/// `block` in the arena. Attention kernels turn it into byte offsets with
/// `PagedKVLayout.keyRowOffset(block:layer:position:)` and `valueRowOffset`.
public struct KVSlot: Sendable, Hashable {
    /// Physical block id, 0..<blockCount.
    public var block: Int32
    /// Position inside the block, 0..<blockSize.
    public var offset: Int32

    /// Creates a slot.
    public init(block: Int32, offset: Int32) {
        self.block = block
        self.offset = offset
    }
}
