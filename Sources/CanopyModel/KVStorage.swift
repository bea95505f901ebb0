import CanopyKernels

/// The paged KV arena a forward pass writes to and attends over: a base address and the
/// layout of its blocks. The block manager owns the memory; the model only sees this view.
public struct KVStorage: @unchecked Sendable {
    /// Start of block 0. Unchecked-Sendable: the engine runs one forward pass at a time, and
    /// the manager that owns the memory outlives every pass.
    public let base: UnsafeMutableRawPointer
    /// Byte layout of the blocks.
    public let layout: PagedKVLayout
    /// The block copies made since the last pass, when the manager records them (a
    /// tensor-parallel model hands them to the other ranks); nil: not recorded.
    public let copies: BlockCopyLog?

    /// Creates a view of `base` laid out as `layout`, whose block copies `copies` records.
    public init(base: UnsafeMutableRawPointer, layout: PagedKVLayout, copies: BlockCopyLog? = nil) {
        self.base = base
        self.layout = layout
        self.copies = copies
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
    ///
    /// - Precondition: `capacity > 0` and the system can map the arena (tests and tools with
    ///   fixed sizes; a size a user chose goes through `mapped(config:capacity:blockSize:precision:)`).
    public convenience init(config: ModelConfig, capacity: Int, blockSize: Int = 16, precision: KVPrecision = .f16) {
        precondition(capacity > 0, "empty cache")
        let layout = Self.layout(config: config, blockSize: blockSize, precision: precision)
        let blocks = (capacity + blockSize - 1) / blockSize
        self.init(memory: PageMemory(byteCount: blocks * layout.blockBytes), layout: layout, blocks: blocks)
    }

    /// An arena for `capacity` positions, or nil when the system cannot map it: for sizes a
    /// user chose, whose failure must be reported, not trap.
    ///
    /// - Precondition: `capacity > 0` and `blockSize > 0`.
    public static func mapped(
        config: ModelConfig, capacity: Int, blockSize: Int = 16, precision: KVPrecision = .f16
    ) -> SingleSequenceCache? {
        precondition(capacity > 0 && blockSize > 0, "empty cache")
        let layout = layout(config: config, blockSize: blockSize, precision: precision)
        let blocks = (capacity + blockSize - 1) / blockSize
        let (bytes, overflow) = blocks.multipliedReportingOverflow(by: layout.blockBytes)
        guard !overflow, let memory = PageMemory(mappingUpTo: bytes) else { return nil }
        return SingleSequenceCache(memory: memory, layout: layout, blocks: blocks)
    }

    /// Bytes an arena for `capacity` positions maps (for messages when it cannot be had).
    public static func byteCount(config: ModelConfig, capacity: Int, blockSize: Int = 16, precision: KVPrecision = .f16) -> Int {
        let layout = layout(config: config, blockSize: blockSize, precision: precision)
        return (capacity + blockSize - 1) / blockSize * layout.blockBytes
    }

    private init(memory: PageMemory, layout: PagedKVLayout, blocks: Int) {
        self.memory = memory
        storage = KVStorage(base: memory.base, layout: layout)
        capacity = blocks * layout.blockSize
        blockTable = (0..<blocks).map { Int32($0) }
    }

    private static func layout(config: ModelConfig, blockSize: Int, precision: KVPrecision) -> PagedKVLayout {
        PagedKVLayout(
            blockSize: blockSize, layers: config.blockCount, kvHeads: config.headCountKV,
            headDimension: config.headDimension, precision: precision)
    }

    /// Appends `tokens` at positions `firstPosition...` to `batch` (blocks 0, 1, 2, … in
    /// order). Allocates nothing once the batch's storage has grown to size.
    public func append(
        _ tokens: [Int32], at firstPosition: Int, to batch: inout ForwardBatch, wantsLogits: Bool
    ) {
        append(tokens[...], at: firstPosition, to: &batch, logitRows: wantsLogits ? 1 : 0)
    }

    /// Appends `tokens` at positions `firstPosition...` to `batch`, wanting the logits after
    /// each of the last `logitRows` of them (see `ForwardBatch.SequenceSlice.logitRows`).
    ///
    /// - Precondition: the tokens fit in the cache and `0 <= logitRows <= tokens.count`.
    public func append(
        _ tokens: ArraySlice<Int32>, at firstPosition: Int, to batch: inout ForwardBatch, logitRows: Int
    ) {
        let blockSize = storage.layout.blockSize
        let end = firstPosition + tokens.count
        precondition(end <= capacity, "sequence longer than the cache")
        batch.append(tokens: tokens, firstPosition: firstPosition,
                     blockTable: blockTable[..<((end + blockSize - 1) / blockSize)],
                     blockSize: blockSize, logitRows: logitRows)
    }
}
