import CanopyKernels

/// The paged KV arena a forward pass writes to and attends over: a base address and the
/// layout of its blocks. The block manager owns the memory; the model only sees this view.
public struct KVStorage: @unchecked Sendable {
    /// Start of block 0. Unchecked-Sendable: the engine runs one forward pass at a time, and
    /// the manager that owns the memory outlives every pass.
    public let base: UnsafeMutableRawPointer
    /// Byte layout of the blocks.
    public let layout: PagedKVLayout

    /// Creates a view of `base` laid out as `layout`.
    public init(base: UnsafeMutableRawPointer, layout: PagedKVLayout) {
        self.base = base
        self.layout = layout
    }
}

/// A private arena for one sequence with blocks used in order: what tests, benchmarks and
/// the single-sequence tools use when no block manager is involved.
public final class SingleSequenceCache: @unchecked Sendable {
    /// The view the model writes to.
    public let storage: KVStorage
    /// Positions the arena can hold.
    public let capacity: Int
    private let memory: PageMemory
    /// Block ids 0, 1, 2, …: every sequence here uses the blocks in order.
    private let blockTable: [Int32]

    /// Allocates room for `capacity` positions of `config`'s model in `precision`.
    public init(config: ModelConfig, capacity: Int, blockSize: Int = 16, precision: KVPrecision = .f16) {
        precondition(capacity > 0, "empty cache")
        let layout = PagedKVLayout(
            blockSize: blockSize, layers: config.blockCount, kvHeads: config.headCountKV,
            headDimension: config.headDimension, precision: precision)
        let blocks = (capacity + blockSize - 1) / blockSize
        memory = PageMemory(byteCount: blocks * layout.blockBytes)
        storage = KVStorage(base: memory.base, layout: layout)
        self.capacity = blocks * blockSize
        blockTable = (0..<blocks).map { Int32($0) }
    }

    /// Appends `tokens` at positions `firstPosition...` to `batch` (blocks 0, 1, 2, … in
    /// order). Allocates nothing once the batch's storage has grown to size.
    public func append(
        _ tokens: [Int32], at firstPosition: Int, to batch: inout ForwardBatch, wantsLogits: Bool
    ) {
        let blockSize = storage.layout.blockSize
        let end = firstPosition + tokens.count
        precondition(end <= capacity, "sequence longer than the cache")
        batch.append(tokens: tokens[...], firstPosition: firstPosition,
                     blockTable: blockTable[..<((end + blockSize - 1) / blockSize)],
                     blockSize: blockSize, wantsLogits: wantsLogits)
    }
}
