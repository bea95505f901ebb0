import CCanopyKernels
#if canImport(Glibc)
import Glibc
#endif

/// How a batch's attention is cut into independent work items, and where each query's
/// partial results live: built once per forward pass by `prepare`, then used by
/// `PagedAttention.attend` for every layer (the plan depends on the batch, not the layer).
///
/// The key partitions of a query are a function of its position alone (see
/// `partitionSize(length:chunk:)`), never of the batch around it: that is what makes the
/// output of every query row independent of the call it came in. Tiles only group
/// consecutive queries of one sequence whose partitions coincide, to share K/V reads.
///
/// Reusable: `prepare` keeps the arrays' storage and the partial-result buffer (grow-only),
/// so a decode loop that re-plans every step allocates nothing in steady state. A plan is
/// used by one forward pass at a time (not thread-safe); `@unchecked Sendable` so a model
/// can keep plans in its scratch pool, which hands each to one pass at a time.
public final class PagedAttentionPlan: PoolJob, @unchecked Sendable {
    /// One work item: the queries `rowLo ..< rowHi` of one sequence (indices within it),
    /// the query heads of one KV head, against one key partition.
    struct Item {
        var sequence: Int
        var kvHead: Int
        var rowLo: Int
        var rowHi: Int
        var partition: Int
        var partitionSize: Int
    }

    /// Partitions are never shorter than this many keys (short contexts get one).
    static let minimumPartition = 256
    /// Partitions per query never exceed this, bounding the partial-result scratch.
    static let maximumPartitions = 16
    /// Keys per inner tile, before rounding to whole blocks.
    static let targetChunk = 64
    /// Query vectors (rows × group heads) per tile, before rounding to whole rows.
    static let targetTileVectors = 64

    /// The sequences of the prepared batch (block tables borrowed, see `AttentionSequence`).
    private(set) var sequences: [AttentionSequence] = []
    /// Query heads of the prepared batch.
    private(set) var headCount = 0
    /// KV layout of the prepared batch.
    private(set) var layout: PagedKVLayout?
    /// Keys per inner tile: a whole number of blocks, about `targetChunk`.
    private(set) var chunkSize = 0
    /// Query rows per tile.
    private(set) var tileRows = 0
    /// Floats per (query, partition, head) slot: the unnormalised accumulator, then the
    /// running maximum and the running sum.
    private(set) var slotFloats = 0
    /// All work items.
    private(set) var items: [Item] = []
    /// Per sequence, the global index of its first query.
    private(set) var queryBase: [Int] = []
    /// Per global query, the offset (in floats) of its first partial slot.
    private(set) var partialOffsets: [Int] = []
    /// Per global query, its partition count.
    private(set) var partitionCounts: [Int] = []
    /// Per global query, its row in the batch.
    private(set) var batchRows: [Int] = []
    /// Query rows of the largest tile (sizes the per-item scratch: decode batches need
    /// room for one row only).
    private(set) var largestTileRows = 0
    /// Floats of partial results for the whole call.
    private(set) var partialFloats = 0
    /// Room for `partialFloats` partial results (grow-only).
    /// (malloc'd, so that a failed growth is reported rather than trapping.)
    private(set) var partials = malloc(MemoryLayout<Float>.stride)!.bindMemory(to: Float.self, capacity: 1)
    private var partialCapacity = 0

    // The call in progress (`PagedAttention.attend`), which runs the plan as a pool job in
    // two phases: every work item, then every query's merge.
    enum Phase { case tiles, merge }
    var phase = Phase.tiles
    var kernel: PagedAttentionKernel?
    var output: UnsafeMutablePointer<Float>?
    /// Queries merged per iteration of the merge phase.
    static let queriesPerMerge = 8

    /// Creates an empty plan; `prepare` fills it.
    public init() {}

    /// Makes room for batches of up to `queries` queries in as many sequences, whose
    /// queries each attend in one partition (contexts up to `minimumPartition`) over
    /// `kvHeads` KV heads and `headCount` query heads of `headDimension` values: planning
    /// and running such a batch then allocates nothing, whatever its shape, partial results
    /// included. (A plan grows on demand otherwise; a decode batch whose sizes vary from step
    /// to step, as speculative verification windows do, would allocate whenever one of them
    /// exceeded every earlier one.) If the partials cannot be had now, they grow on demand.
    public func reserveCapacity(queries: Int, kvHeads: Int, headCount: Int, headDimension: Int) {
        sequences.reserveCapacity(queries)
        queryBase.reserveCapacity(queries)
        partialOffsets.reserveCapacity(queries)
        partitionCounts.reserveCapacity(queries)
        batchRows.reserveCapacity(queries)
        items.reserveCapacity(queries * kvHeads)
        let floats = queries * headCount * (headDimension + 2)
        if floats > partialCapacity { _ = replacePartials(capacity: floats) }
    }

    deinit {
        free(partials)
    }

    /// Keys per inner tile for `blockSize`: a multiple of it, so tiles never straddle blocks
    /// unevenly and partition boundaries (multiples of the chunk) fall on block edges.
    static func chunkSize(blockSize: Int) -> Int {
        blockSize * Swift.max(1, targetChunk / blockSize)
    }

    /// Keys per partition for a query attending to `length` positions: at least
    /// `minimumPartition`, at least `length / maximumPartitions` (rounded up), rounded up to
    /// a whole number of chunks. Depends on nothing but the query's own position.
    static func partitionSize(length: Int, chunk: Int) -> Int {
        let wanted = Swift.max(minimumPartition, (length + maximumPartitions - 1) / maximumPartitions)
        return (wanted + chunk - 1) / chunk * chunk
    }

    /// Query rows per tile for a batch of one sequence: `tileRows`, or fewer when that leaves
    /// the threads unevenly loaded. A verification window of 9 rows over 3 KV heads is 3 work
    /// items, which 2 threads take 2 + 1; cut into 2 tiles it is 6, taken 3 + 3. The tiles
    /// become as many as make the items a multiple of the threads, when that is few enough
    /// to matter (fewer than 4 items per thread). Tiles group rows only to share K/V reads:
    /// every row's result is the same in any tile.
    static func balancedTileRows(
        _ sequence: AttentionSequence, tileRows: Int, kvHeads: Int, chunk: Int, threads: Int
    ) -> Int {
        let rows = sequence.queryCount
        guard rows > 1, threads > 1 else { return tileRows }
        // The first row's partitions (a later row may have one more; this is a heuristic).
        let length = sequence.firstPosition + 1
        let size = partitionSize(length: length, chunk: chunk)
        let perTile = kvHeads * ((length + size - 1) / size)
        let tiles = (rows + tileRows - 1) / tileRows
        guard perTile * tiles < 4 * threads else { return tileRows }
        // Items are a multiple of the threads once the tiles are threads / gcd(perTile, threads).
        var divisor = perTile, rest = threads
        while rest != 0 { (divisor, rest) = (rest, divisor % rest) }
        let wanted = Swift.min(rows, threads / divisor)
        return wanted > tiles ? (rows + wanted - 1) / wanted : tileRows
    }

    /// Plans attention for `sequences` (whose block tables must stay valid until the plan's
    /// last `attend`) with `headCount` query heads over `layout`; checks what can be checked.
    /// O(queries + work items); allocates only when the batch outgrows earlier ones.
    public func prepare(sequences newSequences: [AttentionSequence], headCount: Int, layout: PagedKVLayout) {
        prepare(sequenceCount: newSequences.count, headCount: headCount, layout: layout) { newSequences[$0] }
    }

    /// `prepare(sequences:headCount:layout:)` for the sequences `sequence(0)`,
    /// `sequence(1)`, … `sequence(sequenceCount - 1)`, without building an array of them.
    public func prepare(
        sequenceCount: Int, headCount: Int, layout: PagedKVLayout, _ sequence: (Int) -> AttentionSequence
    ) {
        precondition(headCount > 0 && headCount % layout.kvHeads == 0,
                     "headCount \(headCount) is not a positive multiple of kvHeads \(layout.kvHeads)")
        sequences.removeAll(keepingCapacity: true)
        for i in 0..<sequenceCount { sequences.append(sequence(i)) }
        items.removeAll(keepingCapacity: true)
        queryBase.removeAll(keepingCapacity: true)
        partialOffsets.removeAll(keepingCapacity: true)
        partitionCounts.removeAll(keepingCapacity: true)
        batchRows.removeAll(keepingCapacity: true)
        largestTileRows = 0
        partialFloats = 0
        self.headCount = headCount
        self.layout = layout
        chunkSize = Self.chunkSize(blockSize: layout.blockSize)
        let group = headCount / layout.kvHeads
        tileRows = Swift.min(32, Swift.max(1, Self.targetTileVectors / group))
        if sequenceCount == 1 {
            tileRows = Self.balancedTileRows(sequences[0], tileRows: tileRows, kvHeads: layout.kvHeads,
                                             chunk: chunkSize, threads: WorkerPool.shared.threadCount)
        }
        slotFloats = layout.headDimension + 2
        var globalQuery = 0
        for index in sequences.indices {
            let sequence = sequences[index]
            precondition(sequence.queryCount >= 0 && sequence.firstPosition >= 0 && sequence.queryStart >= 0,
                         "attention sequence \(index) has a negative count or position")
            queryBase.append(globalQuery)
            var row = 0
            while row < sequence.queryCount {
                let size = Self.partitionSize(length: sequence.firstPosition + row + 1, chunk: chunkSize)
                var end = row + 1
                while end < sequence.queryCount && end - row < tileRows
                    && Self.partitionSize(length: sequence.firstPosition + end + 1, chunk: chunkSize) == size {
                    end += 1
                }
                largestTileRows = Swift.max(largestTileRows, end - row)
                let partitions = (sequence.firstPosition + end + size - 1) / size
                for partition in 0..<partitions {
                    for kvHead in 0..<layout.kvHeads {
                        items.append(Item(sequence: index, kvHead: kvHead, rowLo: row, rowHi: end,
                                          partition: partition, partitionSize: size))
                    }
                }
                row = end
            }
            for row in 0..<sequence.queryCount {
                let length = sequence.firstPosition + row + 1
                let size = Self.partitionSize(length: length, chunk: chunkSize)
                let count = (length + size - 1) / size
                partialOffsets.append(partialFloats)
                partitionCounts.append(count)
                batchRows.append(sequence.queryStart + row)
                partialFloats += count * headCount * slotFloats
            }
            globalQuery += sequence.queryCount
        }
        if partialFloats > partialCapacity {
            growPartials()
        }
    }

    /// Grows `partials` to hold `partialFloats`. On failure (memory exhausted, or the
    /// fault-injection limit) the failure is counted (`canopy_scratch_failures`), the plan
    /// keeps no items, so `attend` computes nothing, and the forward pass fails.
    private func growPartials() {
        let wanted = Swift.max(partialFloats, 2 * partialCapacity)
        for capacity in [wanted, partialFloats] where replacePartials(capacity: capacity) { return }
        canopy_scratch_note_failure(partialFloats * MemoryLayout<Float>.stride)
        items.removeAll(keepingCapacity: true)
        batchRows.removeAll(keepingCapacity: true)
    }

    /// Replaces `partials` (contents dropped) with room for `capacity` floats; false, with
    /// nothing changed, when the memory is not to be had (exhausted, or the fault-injection
    /// limit).
    private func replacePartials(capacity: Int) -> Bool {
        let bytes = capacity * MemoryLayout<Float>.stride
        guard canopy_growth_allowed(bytes) != 0, let raw = malloc(bytes) else { return false }
        free(partials)
        partials = raw.bindMemory(to: Float.self, capacity: capacity)
        partialCapacity = capacity
        return true
    }

    /// One iteration of the current phase (see `PagedAttention.attend(plan:...)`).
    public func run(_ index: Int) {
        guard let kernel else { preconditionFailure("attention plan run outside attend") }
        switch phase {
        case .tiles:
            // Per-thread scratch: floats for the tile, then the K/V row pointers.
            let floatBytes = (kernel.scratchFloats * MemoryLayout<Float>.stride + 63) / 64 * 64
            let bytes = floatBytes + 2 * chunkSize * MemoryLayout<UnsafeRawPointer>.stride
            // On failure the tile is skipped and counted (`canopy_scratch_failures`): the
            // forward pass then fails instead of returning what was skipped.
            guard let scratch = canopy_task_scratch(bytes) else { return }
            let item = items[index]
            partialOffsets.withUnsafeBufferPointer { offsets in
                kernel.run(item, sequence: sequences[item.sequence],
                           partialOffsets: offsets.baseAddress! + queryBase[item.sequence],
                           scratch: scratch.assumingMemoryBound(to: Float.self),
                           rowPointers: (scratch + floatBytes).assumingMemoryBound(to: UnsafeRawPointer.self))
            }
        case .merge:
            let width = headCount * kernel.layout.headDimension
            let end = Swift.min(batchRows.count, (index + 1) * Self.queriesPerMerge)
            for query in (index * Self.queriesPerMerge)..<end {
                kernel.merge(partialOffset: partialOffsets[query], partitions: partitionCounts[query],
                             output: output! + batchRows[query] * width)
            }
        }
    }
}
