import CanopyGGUF
import Foundation

/// A model's weights under a memory budget (`--weight-memory`): what `WeightPlacement`
/// keeps resident stays in memory, the other transformer blocks are read from the model file
/// for every forward pass, ahead of use (see `WeightStreamer`). Outputs are bit-identical to
/// the resident model: the bytes computed with are the file's, at the same addresses.
///
/// Architectures bracket each unit's computation with `acquire`/`release` (the transformer
/// blocks by index, then the output projection's chunks, see `ForwardScratch.writeLogits`);
/// for a resident unit both do nothing. Token embeddings come from `readEmbeddingRow` when
/// the placement reads the table by row. Thread-safe.
public final class WeightResidency: Sendable {
    private let streamer: WeightStreamer

    /// Streams `placement`'s blocks of `file`, whose streamed ranges were left unread
    /// (`GGUFFile.readIntoMemory(skipping:streaming:)`).
    public init(file: GGUFFile, placement: WeightPlacement) {
        streamer = WeightStreamer(file: file, placement: placement)
    }

    deinit {
        // The prefetch thread holds the streamer, not this; stopping lets it exit and free it.
        streamer.stop()
    }

    /// What is resident and what is streamed.
    public var placement: WeightPlacement { streamer.placement }

    /// Why a streamed block could not be read from the file after it changed on disk, once
    /// that has happened: every forward pass fails from then on (restart on an intact file).
    /// (A failed read with the file unchanged fails only the pass that needed it.)
    public var readFailure: String? { streamer.failures.permanent }

    /// Every failed read since load, transient ones included.
    var readFailures: ReadFailureLog { streamer.failures }

    /// The placement's sizes and the counters since load.
    public func stats() -> WeightStreamingStats {
        let p = placement
        var stats = streamer.snapshot()
        stats.budgetBytes = p.budgetBytes
        stats.residentBytes = p.residentBytes
        stats.streamedBytesPerPass = p.streamedBytesPerPass
        stats.streamedLayers = p.streamedBlockCount
        stats.totalLayers = p.blockCount
        stats.embeddingBytesPerToken = p.embeddingBytesPerToken
        return stats
    }

    /// A one-line summary of the streaming counters, for logs and tools.
    public var statsSummary: String {
        let s = streamer.snapshot()
        return "read \(ByteCount(s.bytesRead)); blocks prefetched \(s.prefetchReads), found ready \(s.prefetchHits), "
            + "waited for \(s.stalls) (\(String(format: "%.3f", s.stallSeconds)) s), read on demand \(s.demandReads)"
    }

    /// Reads token `token`'s row of the embedding table into `destination` (at least
    /// `placement.embeddingBytesPerToken` bytes), when the placement reads the table by row.
    /// A failed read fails the pass, as a block's does.
    func readEmbeddingRow(_ token: Int, into destination: UnsafeMutableRawPointer) {
        guard let rows = placement.embeddingRows else { return }
        streamer.readCopy(rows.row(token), into: destination)
    }

    /// Makes block `block`'s matrices readable until the matching `release`.
    func acquire(_ block: Int) { streamer.acquire(block) }

    /// Ends a use of block `block`.
    func release(_ block: Int) { streamer.release(block) }
}
