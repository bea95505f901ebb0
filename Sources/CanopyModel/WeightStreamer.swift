import CanopyGGUF
import Foundation

/// The streaming behind `WeightResidency`: streams the units (transformer blocks and chunks
/// of the output projection, called blocks here) a `WeightPlacement` marks streamed: a
/// forward pass acquires each block before computing it and releases it after; a streamed
/// block's matrices are read from the file into their usual place in the model's memory
/// (so every `WeightMatrix` keeps its pointer and the bytes are the file's: outputs are
/// bit-identical to the resident model) and given back when released. The pages a block is
/// read into are reused from one read to the next (`GGUFFile.readIntoMemory`'s streaming
/// window), so a read costs the copy, not also faulting in and zeroing fresh memory.
///
/// Prefetch: acquiring block `i` asks one background thread to read the next
/// `prefetchDepth` streamed blocks (after the last block come the first ones, for the next
/// pass), in execution order, so at batch 1 a step costs about max(compute, read) rather
/// than their sum. A block acquired before its read finished waits (a stall); one not even
/// started is read by the acquiring thread.
///
/// Memory: a streamed block is in memory while acquired or read ahead, so one pass holds at
/// most `placement.windowBytes` of streamed weights (more only while several passes run at
/// once, which the engine never does).
///
/// A failed read leaves the block holding other bytes, so the pass that used it fails
/// (`failures`, a `ReadFailureLog`); the block is read afresh at its next use. When the file
/// changed on disk since load, the failure is permanent and every pass fails from then on
/// (`ForwardError.weightsUnreadable`), never computing with other weights.
///
/// Thread-safe. The prefetch thread holds the streamer until `stop()` (`WeightResidency`
/// calls it when it goes away).
final class WeightStreamer: @unchecked Sendable {
    /// What is resident and what is streamed.
    let placement: WeightPlacement
    // `@unchecked Sendable`: everything below is guarded by `condition`.
    private let file: GGUFFile
    private let condition = NSCondition()
    private var populated: [Bool]
    private var loading: [Bool]
    private var pins: [Int]
    /// Blocks whose latest read failed: populated (nobody waits for them) but not the file's
    /// bytes; re-read at their next acquire.
    private var failed: [Bool]
    /// Blocks the prefetch thread should read next, in order.
    private var requested: [Int] = []
    /// The streamed blocks in execution order, and each block's position in it.
    private let order: [Int]
    private let position: [Int?]
    /// The position in `order` of the block most recently acquired.
    private var current = 0
    private var stopping = false
    private var readFailures = ReadFailureLog()
    /// The counters since load (its placement fields are `WeightResidency.stats()`'s to fill).
    private var stats = WeightStreamingStats()

    /// Starts streaming `placement`'s blocks of `file`, whose streamed ranges were left
    /// unread (`GGUFFile.readIntoMemory(skipping:streaming:)`).
    init(file: GGUFFile, placement: WeightPlacement) {
        self.file = file
        self.placement = placement
        let count = placement.streamed.count
        populated = Array(repeating: false, count: count)
        loading = Array(repeating: false, count: count)
        pins = Array(repeating: 0, count: count)
        failed = Array(repeating: false, count: count)
        order = placement.streamed.indices.filter { placement.streamed[$0] }
        var position = [Int?](repeating: nil, count: count)
        for (index, block) in order.enumerated() { position[block] = index }
        self.position = position
        let worker = Thread { [self] in runPrefetcher() }
        worker.name = "canopy-weight-prefetch"
        worker.start()
    }

    /// Stops the prefetch thread (which holds the residency until then).
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    /// Counters since load.
    func snapshot() -> WeightStreamingStats {
        condition.lock()
        defer { condition.unlock() }
        return stats
    }

    /// The reads that failed since load.
    var failures: ReadFailureLog {
        condition.lock()
        defer { condition.unlock() }
        return readFailures
    }

    /// Makes block `block`'s matrices readable until the matching `release`; nothing to do
    /// for a resident block.
    func acquire(_ block: Int) {
        guard let index = position[block] else { return }
        condition.lock()
        defer { condition.unlock() }
        current = index
        trim()
        requestReadAhead(after: index)
        var waitedSince: Date?
        var readHere = false
        while true {
            if loading[block] {
                waitedSince = waitedSince ?? Date()
                condition.wait()
            } else if populated[block] {
                // A failed read (a previous pass's, or the prefetcher's) is retried by the
                // next pass that needs the block, once nobody holds it.
                guard failed[block] && pins[block] == 0 && !readHere else { break }
                evict(block)
            } else {
                load(block)
                readHere = true
            }
        }
        pins[block] += 1
        if let waitedSince {
            stats.stalls += 1
            stats.stallSeconds += Date().timeIntervalSince(waitedSince)
        } else if readHere {
            stats.demandReads += 1
        } else {
            stats.prefetchHits += 1
        }
    }

    /// Ends a use of block `block`; a streamed block not wanted again soon gives its memory
    /// back.
    func release(_ block: Int) {
        guard position[block] != nil else { return }
        condition.lock()
        defer { condition.unlock() }
        pins[block] -= 1
        precondition(pins[block] >= 0, "weight block \(block) released more often than acquired")
        if pins[block] == 0 && !requested.contains(block) && !isReadAhead(block) { evict(block) }
    }

    /// Whether `block` lies in the read-ahead window after the block last acquired (it was,
    /// or is about to be, read for the next use).
    private func isReadAhead(_ block: Int) -> Bool {
        guard let index = position[block], order.count > 1 else { return order.count == 1 }
        let distance = (index - current + order.count) % order.count
        return distance >= 1 && distance <= placement.prefetchDepth
    }

    /// Replaces the prefetch queue by the `prefetchDepth` streamed blocks after position
    /// `index` (older requests are stale: the pass has moved on). Lock held.
    private func requestReadAhead(after index: Int) {
        requested.removeAll(keepingCapacity: true)
        guard placement.prefetchDepth > 0 else { return }
        for step in 1...placement.prefetchDepth {
            let block = order[(index + step) % order.count]
            if !populated[block] && !loading[block] { requested.append(block) }
        }
        if !requested.isEmpty { condition.broadcast() }
    }

    /// Reads `block` with the lock released meanwhile (others wait on `loading`). Lock held.
    private func load(_ block: Int) {
        loading[block] = true
        condition.unlock()
        let failure = file.readStreamed(placement.unitRanges[block])?.message(reading: unitName(block), from: file.path)
        let bytes = placement.unitRanges[block].reduce(0) { $0 + $1.count }
        condition.lock()
        loading[block] = false
        // Marked populated even when the read failed, so nobody waits for it for ever: the
        // failure fails the pass, and `failed` has the block read again at its next use.
        populated[block] = true
        failed[block] = failure != nil
        stats.bytesRead += bytes
        if let failure { readFailures.record(failure, fileChange: file.changeOnDisk()) }
        condition.broadcast()
    }

    /// Reads the file's `range` into `destination` (a row of a table left unread), counting
    /// the bytes; a failure is kept like a block's, so the pass fails.
    func readCopy(_ range: Range<Int>, into destination: UnsafeMutableRawPointer) {
        let partial = file.readCopy(range, into: destination)
        condition.lock()
        defer { condition.unlock() }
        stats.bytesRead += range.count
        if let partial {
            readFailures.record(partial.message(reading: "the token embedding", from: file.path), fileChange: file.changeOnDisk())
        }
    }

    /// How a unit is named in errors: a layer, or a chunk of the output projection.
    private func unitName(_ unit: Int) -> String {
        guard unit >= placement.blockCount else { return "layer \(unit)" }
        let rows = placement.headRows[unit - placement.blockCount]
        return "output projection rows \(rows.lowerBound)..<\(rows.upperBound)"
    }

    /// Gives back every streamed block that is neither in use, nor being read, nor in the
    /// read-ahead window (one read ahead for a pass that went elsewhere). Lock held.
    private func trim() {
        for block in order where populated[block] && pins[block] == 0 && !loading[block]
            && block != order[current] && !isReadAhead(block)
        {
            evict(block)
        }
    }

    /// Gives a block's memory back. Lock held.
    private func evict(_ block: Int) {
        guard populated[block] else { return }
        populated[block] = false
        failed[block] = false
        file.releaseStreamed(placement.unitRanges[block])
    }

    private func runPrefetcher() {
        condition.lock()
        defer { condition.unlock() }
        while !stopping {
            guard !requested.isEmpty else {
                condition.wait()
                continue
            }
            let block = requested.removeFirst()
            guard !populated[block] && !loading[block] else { continue }
            load(block)
            stats.prefetchReads += 1
        }
    }
}
