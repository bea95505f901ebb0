/// How one `PagedAttention.attend` call is cut into independent work items, and where
/// each query's partial results live.
///
/// The key partitions of a query are a function of its position alone (see
/// `partitionSize(length:chunk:)`), never of the batch around it: that is what makes the
/// output of every query row independent of the call it came in. Tiles only group
/// consecutive queries of one sequence whose partitions coincide, to share K/V reads.
struct PagedAttentionPlan {
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

    /// Keys per inner tile: a whole number of blocks, about `targetChunk`.
    let chunkSize: Int
    /// Query rows per tile.
    let tileRows: Int
    /// Floats per (query, partition, head) slot: the unnormalised accumulator, then the
    /// running maximum and the running sum.
    let slotFloats: Int
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

    /// Plans a call; checks the arguments that can be checked.
    init(sequences: [AttentionSequence], headCount: Int, layout: PagedKVLayout) {
        chunkSize = Self.chunkSize(blockSize: layout.blockSize)
        let group = headCount / layout.kvHeads
        tileRows = Swift.min(32, Swift.max(1, Self.targetTileVectors / group))
        slotFloats = layout.headDimension + 2
        var globalQuery = 0
        for (index, sequence) in sequences.enumerated() {
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
    }
}
