import CanopyKernels

/// One page-aligned, zero-filled allocation of `layout.blockBytes × blockCount` bytes: the
/// memory every sequence's K/V rows live in.
///
/// The memory is an anonymous private mapping, so it is page aligned and reads as zero, and
/// pages are only committed when first written (a large budget costs nothing until used).
/// The arena lives exactly as long as this object; `base` must not be used after that.
///
/// `@unchecked Sendable`: the class's own state (`base`, `layout`, `blockCount`) is
/// immutable after init. The bytes behind `base` are not synchronised by this type; the
/// engine guarantees that writers (one forward pass, or `copyBlock` called by the manager
/// between passes) never run concurrently with readers of the same block.
public final class KVArena: @unchecked Sendable {
    /// The byte layout of blocks and rows.
    public let layout: PagedKVLayout
    /// Number of blocks; valid block ids are `0..<blockCount`.
    public let blockCount: Int
    /// Total bytes mapped (`layout.blockBytes × blockCount`).
    public let byteCount: Int
    private let memory: PageMemory
    /// Every `copyBlock`, when copies are recorded (tensor parallelism: other ranks repeat
    /// them on their own arenas); nil otherwise.
    public let copyLog: BlockCopyLog?

    /// Maps a zeroed arena of `blockCount` blocks; with `recordingCopies`, `copyLog` records
    /// every block copy.
    ///
    /// Preconditions: `blockCount >= 1`, `blockCount <= Int32.max` (block ids are `Int32`),
    /// the byte size does not overflow, and the system can map it.
    public init(layout: PagedKVLayout, blockCount: Int, recordingCopies: Bool = false) {
        copyLog = recordingCopies ? BlockCopyLog() : nil
        precondition(blockCount >= 1, "KV arena needs at least one block")
        precondition(blockCount <= Int(Int32.max), "KV arena block ids must fit in Int32")
        let (bytes, overflow) = layout.blockBytes.multipliedReportingOverflow(by: blockCount)
        precondition(!overflow, "KV arena size overflows")
        self.layout = layout
        self.blockCount = blockCount
        self.byteCount = bytes
        memory = PageMemory(byteCount: bytes)
    }

    /// Start of the arena: block `b` begins at `base + b × layout.blockBytes`. Page aligned.
    public var base: UnsafeMutableRawPointer { memory.base }

    /// Copies all `layout.blockBytes` bytes of block `from` over block `to` (every layer's
    /// keys and values). O(blockBytes).
    ///
    /// Preconditions: both ids in `0..<blockCount` and distinct.
    public func copyBlock(from: Int32, to: Int32) {
        precondition(from >= 0 && Int(from) < blockCount, "source block \(from) out of range")
        precondition(to >= 0 && Int(to) < blockCount, "destination block \(to) out of range")
        precondition(from != to, "copying block \(from) onto itself")
        let size = layout.blockBytes
        (base + Int(to) * size).copyMemory(from: base + Int(from) * size, byteCount: size)
        copyLog?.append(BlockCopyLog.Copy(from: from, to: to))
    }

    /// Pointer to the first byte of block `block`. Precondition: `block` in range.
    public func blockPointer(_ block: Int32) -> UnsafeMutableRawPointer {
        precondition(block >= 0 && Int(block) < blockCount, "block \(block) out of range")
        return base + Int(block) * layout.blockBytes
    }
}
