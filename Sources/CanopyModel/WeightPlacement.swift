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
                + "\(minimum) bytes (everything outside the layers, plus two layers to compute one while reading the next)"
        case .invalidBudget(let bytes):
            return "the weight memory budget must be at least 0 bytes, got \(bytes)"
        }
    }
}

/// Which of a model file's bytes stay in memory and which transformer blocks are streamed
/// from the file for every forward pass, under a budget for the file's bytes held in memory
/// (`--weight-memory`), in the spirit of DeepSpeed ZeRO-Inference's weight offloading.
///
/// What is placed: each block's matrices (its norms and biases, read into `[Float]` at load,
/// always stay). Everything outside the blocks (header and vocabulary, token embedding,
/// output projection) stays resident: the output projection is read in full every pass, so
/// streaming it would cost as much per token as a layer. Every streamed block is read once
/// per forward pass whatever the batch, so each resident block saves the same bytes per
/// pass as its size: the plan keeps as many blocks as fit, spread evenly between the
/// streamed ones so reads overlap with the computing of resident layers, and keeps a window
/// of `prefetchDepth + 1` blocks for streaming (the one computing, the ones being read).
///
/// Memory held: `residentBytes + windowBytes <= budgetBytes`.
public struct WeightPlacement: Sendable, Equatable, CustomStringConvertible {
    /// The budget planned for.
    public let budgetBytes: Int
    /// Bytes of the file outside the placed matrices (always resident).
    public let fixedBytes: Int
    /// Per block, the absolute file byte ranges of its matrices (contiguous ones merged).
    public let blockRanges: [[Range<Int>]]
    /// Per block, whether it is streamed (else resident).
    public let streamed: [Bool]
    /// Streamed blocks read ahead of the one computing.
    public let prefetchDepth: Int

    /// Bytes of each block's matrices.
    public var blockBytes: [Int] { blockRanges.map { $0.reduce(0) { $0 + $1.count } } }
    /// Bytes read from the file per forward pass (every streamed block once).
    public var streamedBytesPerPass: Int { zip(blockBytes, streamed).reduce(0) { $0 + ($1.1 ? $1.0 : 0) } }
    /// Bytes always in memory: everything but the streamed blocks.
    public var residentBytes: Int { fixedBytes + zip(blockBytes, streamed).reduce(0) { $0 + ($1.1 ? 0 : $1.0) } }
    /// Bytes of streamed blocks in memory at once at most (one computing, `prefetchDepth` read ahead).
    public var windowBytes: Int {
        let largest = zip(blockBytes, streamed).filter(\.1).map(\.0).max() ?? 0
        return (prefetchDepth + 1) * largest
    }
    /// The streamed ranges, for `GGUFFile.readIntoMemory(skipping:streaming:)`.
    public var streamedRanges: [Range<Int>] { zip(blockRanges, streamed).filter(\.1).flatMap(\.0) }

    public var description: String {
        let streamedCount = streamed.filter { $0 }.count
        return "weights: \(ByteCount(residentBytes)) resident (\(streamed.count - streamedCount) of \(streamed.count) layers), "
            + "\(streamedCount) layers streamed (\(ByteCount(streamedBytesPerPass)) read per forward pass, "
            + "prefetch \(prefetchDepth)), at most \(ByteCount(residentBytes + windowBytes)) of the "
            + "\(ByteCount(budgetBytes)) budget"
    }

    /// Plans `file` (a model of `blockCount` transformer blocks named `blk.<i>.`) for
    /// `budgetBytes` of weight memory, or returns nil when the whole file fits: then nothing
    /// is streamed and the model runs as without a budget.
    ///
    /// - Throws: `.budgetTooSmall` (with the minimum) when not even the resident part and a
    ///   two-block window fit.
    public static func plan(file: GGUFFile, blockCount: Int, budgetBytes: Int) throws(WeightPlacementError) -> WeightPlacement? {
        guard budgetBytes >= 0 else { throw .invalidBudget(budgetBytes) }
        guard budgetBytes < file.fileSize, blockCount > 0 else { return nil }
        let ranges = (0..<blockCount).map { matrixRanges(of: $0, in: file) }
        let sizes = ranges.map { $0.reduce(0) { $0 + $1.count } }
        let fixed = file.fileSize - sizes.reduce(0, +)
        let largest = sizes.max() ?? 0
        guard largest > 0 else { return nil }
        // The deepest read-ahead (up to 2) the budget allows, then as many resident blocks
        // as fit beside it.
        guard let depth = [2, 1].first(where: { fixed + ($0 + 1) * largest <= budgetBytes }) else {
            throw .budgetTooSmall(budgetBytes: budgetBytes, minimumBytes: fixed + 2 * largest)
        }
        let residentCount = min(blockCount, (budgetBytes - fixed - (depth + 1) * largest) / largest)
        guard residentCount < blockCount else { return nil }
        var streamed = [Bool](repeating: true, count: blockCount)
        for j in 0..<residentCount { streamed[(2 * j + 1) * blockCount / (2 * residentCount)] = false }
        let streamedCount = blockCount - residentCount
        return WeightPlacement(
            budgetBytes: budgetBytes, fixedBytes: fixed, blockRanges: ranges, streamed: streamed,
            prefetchDepth: min(depth, streamedCount - 1))
    }

    /// The absolute file ranges of block `index`'s matrices (tensors of two or more
    /// dimensions named `blk.<index>.`), sorted, with ranges apart by alignment padding only
    /// merged.
    static func matrixRanges(of index: Int, in file: GGUFFile) -> [Range<Int>] {
        let prefix = "blk.\(index)."
        let ranges = file.tensors
            .filter { $0.name.hasPrefix(prefix) && $0.dimensions.count >= 2 && $0.byteCount > 0 }
            .map { (file.dataOffset + $0.offset)..<(file.dataOffset + $0.offset + $0.byteCount) }
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
