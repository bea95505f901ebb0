/// KV block copies made between forward passes (copy-on-write of a shared block), kept for
/// whoever must repeat them elsewhere: the other ranks of a tensor-parallel group hold their
/// own heads of every block, and must copy the same blocks before the next pass reads them.
///
/// The block manager appends; the next forward pass takes the copies in order. Thread safe.
public final class BlockCopyLog: Sendable {
    /// One whole-block copy, `from` over `to`.
    public struct Copy: Sendable, Equatable {
        public var from: Int32
        public var to: Int32

        /// A copy of block `from` over block `to`.
        public init(from: Int32, to: Int32) {
            self.from = from
            self.to = to
        }
    }

    private let pending = Locked<[Copy]>([])

    /// An empty log.
    public init() {}

    /// Records that block `from` was copied over block `to`.
    public func append(_ copy: Copy) {
        pending.withLock { $0.append(copy) }
    }

    /// The copies recorded since the last call, oldest first; the log is then empty.
    public func take() -> [Copy] {
        pending.withLock { copies in
            defer { copies.removeAll(keepingCapacity: true) }
            return copies
        }
    }
}
