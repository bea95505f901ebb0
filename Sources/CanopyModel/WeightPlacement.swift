import CanopyGGUF
import Foundation

/// Why a weight memory budget cannot be met.
public enum WeightPlacementError: Error, CustomStringConvertible, Equatable {
    /// The budget is below what must stay resident plus the smallest streaming window.
    case budgetTooSmall(budgetBytes: Int, minimumBytes: Int)
    /// The budget is negative.
    case invalidBudget(Int)

    public var description: String {
        switch self {
        case .budgetTooSmall(let budget, let minimum):
            return "a weight memory budget of \(budget) bytes is too small for this model: it needs at least "
                + "\(minimum) bytes (the norms and vocabulary, plus two layers to compute one while reading the next)"
        case .invalidBudget(let bytes):
            return "the weight memory budget must be at least 0 bytes, got \(bytes)"
        }
    }
}

/// Which of a model file's bytes stay in memory and which are read from the file for every
/// forward pass, under a budget for the file's bytes held in memory (`--weight-memory`), in
/// the spirit of DeepSpeed ZeRO-Inference's weight offloading and FlexGen's placement.
///
/// What is placed, in *units* read whole: each transformer block's matrices (units
/// `0..<blockCount`, in execution order), then the output projection in chunks of rows
/// about a block's size (`headRows`), computed after the last block. Every streamed unit is
/// read once per forward pass whatever the batch, so each resident unit saves its size in
/// reads per pass: the plan keeps as many units as fit, spread evenly among the streamed
/// ones so reads overlap with the computing of resident units, and keeps a window of
/// `prefetchDepth + 1` units for streaming (the one computing, the ones being read).
///
/// The token embedding is gathered, not multiplied: a pass needs one row per token. So
/// whenever anything must leave memory the table is read row by row from the file
/// (`embeddingRows`), which costs a few kilobytes per token and frees the whole table; a
/// table tied to the output projection is read by row while any of its chunks is streamed.
/// Norms and biases (read into `[Float]` at load) and the header always stay.
///
/// Memory held: `residentBytes + windowBytes <= budgetBytes`.
public struct WeightPlacement: Sendable, Equatable, CustomStringConvertible {
    /// Where the token embedding table lies in the file, when lookups read rows from it.
    public struct EmbeddingRows: Sendable, Equatable {
        /// The table's absolute byte range in the file.
        public let table: Range<Int>
        /// Bytes per row (one token's embedding).
        public let rowBytes: Int
        /// Whether the table is its own tensor (left unread in memory), not the output
        /// projection's (tied; its chunks are units like blocks).
        public let separate: Bool

        /// The file range of `token`'s row.
        public func row(_ token: Int) -> Range<Int> {
            let start = table.lowerBound + token * rowBytes
            return start..<(start + rowBytes)
        }
    }

    /// The budget planned for.
    public let budgetBytes: Int
    /// Bytes of the file outside the placed units and a separate row-read embedding table
    /// (always resident).
    public let fixedBytes: Int
    /// Number of transformer blocks: units `0..<blockCount`; the rest are `headRows`.
    public let blockCount: Int
    /// Per unit, the absolute file byte ranges of its matrices (contiguous ones merged).
    public let unitRanges: [[Range<Int>]]
    /// Per unit, whether it is streamed (else resident).
    public let streamed: [Bool]
    /// The output projection's rows held by each unit after the blocks, in order.
    public let headRows: [Range<Int>]
    /// The embedding table read row by row, or nil when it is in memory.
    public let embeddingRows: EmbeddingRows?
    /// Streamed units read ahead of the one computing.
    public let prefetchDepth: Int

    /// Bytes of each unit.
    public var unitBytes: [Int] { unitRanges.map { $0.reduce(0) { $0 + $1.count } } }
    /// Whether any chunk of the output projection is streamed (then the head multiplies by
    /// chunk, acquiring each).
    public var headStreamed: Bool { streamed[blockCount...].contains(true) }
    /// Bytes read from the file per forward pass (every streamed unit once), besides the
    /// embedding rows (`embeddingBytesPerToken`).
    public var streamedBytesPerPass: Int { zip(unitBytes, streamed).reduce(0) { $0 + ($1.1 ? $1.0 : 0) } }
    /// Bytes read per token for its embedding row (0 when the table is in memory).
    public var embeddingBytesPerToken: Int { embeddingRows?.rowBytes ?? 0 }
    /// Bytes always in memory: everything but the streamed units and a row-read table.
    public var residentBytes: Int { fixedBytes + zip(unitBytes, streamed).reduce(0) { $0 + ($1.1 ? 0 : $1.0) } }
    /// Bytes of streamed units in memory at once at most (one computing, `prefetchDepth` read ahead).
    public var windowBytes: Int {
        let largest = zip(unitBytes, streamed).filter(\.1).map(\.0).max() ?? 0
        return windowUnits * largest
    }
    /// The streamed units' ranges, filled in place on demand, for
    /// `GGUFFile.readIntoMemory(skipping:streaming:streamingWindow:)`.
    public var streamedUnits: [[Range<Int>]] { zip(unitRanges, streamed).filter(\.1).map(\.0) }
    /// Streamed units in memory at once at most: the one computing and those read ahead.
    public var windowUnits: Int { prefetchDepth + 1 }
    /// The ranges never held in memory (a separate row-read embedding table): `skipping`.
    public var unreadRanges: [Range<Int>] { embeddingRows.flatMap { $0.separate ? [$0.table] : nil } ?? [] }
    /// Streamed transformer blocks.
    public var streamedBlockCount: Int { streamed[..<blockCount].filter { $0 }.count }

    public var description: String {
        let headCount = streamed.count - blockCount
        let headStreamedCount = streamed[blockCount...].filter { $0 }.count
        let head = headStreamedCount == 0 ? "output projection resident"
            : "output projection streamed (\(headStreamedCount) of \(headCount) chunks)"
        let embedding = embeddingRows == nil ? "token embedding resident"
            : "token embedding read by row (\(ByteCount(embeddingBytesPerToken)) per token)"
        return "weights: \(ByteCount(residentBytes)) resident, \(streamedBlockCount) of \(blockCount) layers streamed, "
            + "\(head), \(embedding); \(ByteCount(streamedBytesPerPass)) read per forward pass "
            + "(prefetch \(prefetchDepth)), at most \(ByteCount(residentBytes + windowBytes)) of the "
            + "\(ByteCount(budgetBytes)) budget"
    }

    /// Plans `file` (a model of `blockCount` transformer blocks named `blk.<i>.`, with
    /// `token_embd.weight` and, unless tied, `output.weight`) for `budgetBytes` of weight
    /// memory, or returns nil when the whole file fits: then nothing is streamed and the
    /// model runs as without a budget.
    ///
    /// `excluding` lists file ranges handled elsewhere (routed experts behind an expert
    /// cache): neither placed nor counted against the budget.
    ///
    /// `prefetch: false` reads every streamed unit when it is needed, never ahead (a window of
    /// one unit): what the bench compares prefetching against.
    ///
    /// - Throws: `.budgetTooSmall` (with the minimum) when not even the resident part and a
    ///   two-unit window (one without prefetch) fit.
    public static func plan(
        file: GGUFFile, blockCount: Int, budgetBytes: Int, prefetch: Bool = true, excluding: [Range<Int>] = []
    ) throws(WeightPlacementError) -> WeightPlacement? {
        guard budgetBytes >= 0 else { throw .invalidBudget(budgetBytes) }
        let excludedBytes = excluding.reduce(0) { $0 + $1.count }
        guard budgetBytes < file.fileSize - excludedBytes, blockCount > 0 else { return nil }
        var units = (0..<blockCount).map { matrixRanges(of: $0, in: file, excluding: excluding) }
        let largestBlock = units.map { $0.reduce(0) { $0 + $1.count } }.max() ?? 0
        guard largestBlock > 0 else { return nil }
        let embedding = file.tensor(named: "token_embd.weight").flatMap { Matrix($0, in: file) }
        let head = file.tensor(named: "output.weight").flatMap { Matrix($0, in: file) } ?? embedding
        let headRows = head.map { $0.chunks(ofAbout: largestBlock) } ?? []
        if let head { units += headRows.map { [head.range(rows: $0)] } }
        let sizes = units.map { $0.reduce(0) { $0 + $1.count } }
        let tied = head != nil && head == embedding
        // A separate table is read by row as soon as anything has to leave memory.
        let separateTable = tied ? nil : embedding
        let fixed = file.fileSize - sizes.reduce(0, +) - (separateTable?.bytes ?? 0) - excludedBytes
        let largest = sizes.max() ?? 0

        func placement(streamed: [Bool], depth: Int) -> WeightPlacement {
            let headStreamed = streamed[blockCount...].contains(true)
            let rowRead = separateTable ?? (headStreamed ? embedding : nil)
            return WeightPlacement(
                budgetBytes: budgetBytes, fixedBytes: fixed, blockCount: blockCount, unitRanges: units,
                streamed: streamed, headRows: headRows,
                embeddingRows: rowRead.map { EmbeddingRows(table: $0.range(rows: 0..<$0.rows), rowBytes: $0.rowBytes,
                                                           separate: !tied) },
                prefetchDepth: depth)
        }
        if fixed + sizes.reduce(0, +) <= budgetBytes {
            return placement(streamed: Array(repeating: false, count: units.count), depth: 0)
        }
        // The deepest read-ahead (up to 2) the budget allows, then as many resident units as
        // fit beside it, spread evenly.
        let depths = prefetch ? [2, 1] : [0]
        guard let depth = depths.first(where: { fixed + ($0 + 1) * largest <= budgetBytes }) else {
            throw .budgetTooSmall(budgetBytes: budgetBytes, minimumBytes: fixed + (depths.last! + 1) * largest)
        }
        let room = budgetBytes - fixed - (depth + 1) * largest
        // Units differ in size (a short last chunk of the output projection): when the evenly
        // spread ones do not fit, the smallest ones may.
        let smallestFirst = sizes.indices.sorted { (sizes[$0], $0) < (sizes[$1], $1) }
        for residentCount in stride(from: units.count - 1, through: 0, by: -1) {
            let spreadOut = spread(residentCount, among: units.count)
            let kept = spreadOut.reduce(0, { $0 + sizes[$1] }) <= room ? spreadOut : Array(smallestFirst.prefix(residentCount))
            guard kept.reduce(0, { $0 + sizes[$1] }) <= room else { continue }
            var streamed = [Bool](repeating: true, count: units.count)
            for unit in kept { streamed[unit] = false }
            return placement(streamed: streamed, depth: min(depth, units.count - residentCount - 1))
        }
        preconditionFailure("keeping no unit resident always fits")
    }

    /// `count` of the positions `0..<total`, evenly spaced.
    static func spread(_ count: Int, among total: Int) -> [Int] {
        (0..<count).map { (2 * $0 + 1) * total / (2 * count) }
    }

    /// The absolute file ranges of block `index`'s matrices (tensors of two or more
    /// dimensions named `blk.<index>.`, but those inside `excluding`), sorted, with ranges
    /// apart by alignment padding only merged.
    static func matrixRanges(of index: Int, in file: GGUFFile, excluding: [Range<Int>] = []) -> [Range<Int>] {
        let prefix = "blk.\(index)."
        let ranges = file.tensors
            .filter { $0.name.hasPrefix(prefix) && $0.dimensions.count >= 2 && $0.byteCount > 0 }
            .map { (file.dataOffset + $0.offset)..<(file.dataOffset + $0.offset + $0.byteCount) }
            .filter { range in !excluding.contains { $0.overlaps(range) } }
            .sorted { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int>] = []
        for range in ranges {
            if let last = merged.last, range.lowerBound - last.upperBound < file.alignment {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }

    /// A 2-D tensor's place in the file, by rows.
    private struct Matrix: Equatable {
        let start: Int
        let rows: Int
        let rowBytes: Int
        var bytes: Int { rows * rowBytes }

        init?(_ info: GGUFTensorInfo, in file: GGUFFile) {
            guard info.dimensions.count == 2, info.dimensions[1] > 0, info.byteCount % info.dimensions[1] == 0 else {
                return nil
            }
            start = file.dataOffset + info.offset
            rows = info.dimensions[1]
            rowBytes = info.byteCount / rows
        }

        func range(rows r: Range<Int>) -> Range<Int> {
            (start + r.lowerBound * rowBytes)..<(start + r.upperBound * rowBytes)
        }

        /// Consecutive row ranges of about `target` bytes each, in whole multiples of 64 rows
        /// (the kernels' row tiles, so a chunk computes what the whole matrix would).
        func chunks(ofAbout target: Int) -> [Range<Int>] {
            let perChunk = max(64, target / max(rowBytes, 1) / 64 * 64)
            return stride(from: 0, to: rows, by: perChunk).map { $0..<min($0 + perChunk, rows) }
        }
    }
}

/// A byte count written for people: `1.2 GB`, `35.0 MB`, `512 B`.
struct ByteCount: CustomStringConvertible {
    let bytes: Int
    init(_ bytes: Int) { self.bytes = bytes }
    var description: String {
        let b = Double(bytes)
        if b >= 1e9 { return String(format: "%.2f GB", b / 1e9) }
        if b >= 1e6 { return String(format: "%.1f MB", b / 1e6) }
        if b >= 1e3 { return String(format: "%.1f kB", b / 1e3) }
        return "\(bytes) B"
    }
}
