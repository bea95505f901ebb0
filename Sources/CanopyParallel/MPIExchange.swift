import CMPI
import CanopyKernels
import CanopyModel
import Foundation

/// `ShardExchange` over MPI point-to-point messages, for a job of `tensorParallel` ×
/// stages ranks: job rank `r` is tensor-parallel rank `r % tensorParallel` of pipeline stage
/// `r / tensorParallel`. Within a stage each rank sends its partial sums to every other rank
/// and adds up all of them in rank order itself, so every rank holds the same bits and no
/// reduction order depends on MPI's algorithm choice or on timing. Between stages, each
/// rank hands its activations to the same rank of the next stage; the last stage's rank 0
/// sends the logits to the job's first rank (it alone samples).
///
/// Every wait has the group's timeout; the first one that runs out records which rank did
/// not answer as `failure`, calls `onFailure` once, and turns every later call into a no-op,
/// so the pass in progress ends quickly with `ForwardError.rankLost`.
public final class MPIExchange: ShardExchange, @unchecked Sendable {
    public let rank: Int
    public let ranks: Int
    public let stage: Int
    public let stages: Int
    private let group: MPIGroup
    private let lost = Locked<String?>(nil)
    /// Called once, with the reason, when a rank is lost (rank 0 logs it and ends the job).
    private let onFailure: @Sendable (String) -> Void
    /// Every rank's partials of the sum in progress (grown as needed; engine thread only).
    private var partials: [Double] = []
    private var gathered: [Float] = []
    /// Time spent waiting in exchanges and bytes sent, since start (for metrics).
    private let counters = Locked<ExchangeCounters>(ExchangeCounters())

    static let sumTag: Int32 = 2
    static let logitsTag: Int32 = 3
    static let activationsTag: Int32 = 4

    /// An exchange among `group`'s ranks, `tensorParallel` per pipeline stage.
    /// - Precondition: `tensorParallel` divides the job's size.
    public init(group: MPIGroup, tensorParallel: Int, onFailure: @escaping @Sendable (String) -> Void) {
        precondition(tensorParallel >= 1 && group.size % tensorParallel == 0, "ranks do not split into stages")
        self.group = group
        rank = group.rank % tensorParallel
        ranks = tensorParallel
        stage = group.rank / tensorParallel
        stages = group.size / tensorParallel
        self.onFailure = onFailure
    }

    /// The job rank of this stage's tensor-parallel rank `index`.
    private func stagePeer(_ index: Int) -> Int { stage * ranks + index }

    public var failure: String? { lost.withLock { $0 } }

    /// Communication so far: time spent in exchanges, bytes sent, and calls.
    public var statistics: ExchangeCounters { counters.withLock { $0 } }

    /// When the first rank's latest pass began (its `distribute`) and when its latest
    /// logits arrived; a pass is counted when the next one begins (under pipeline
    /// parallelism its logits come in one message per micro-batch).
    private var passStarted: ContinuousClock.Instant?
    private var passEnded: ContinuousClock.Instant?

    public func distribute(_ batch: ForwardBatch, copies: [BlockCopyLog.Copy]) {
        guard failure == nil else { return }
        countPass()
        passStarted = .now
        send(.forward(batch, copies: copies))
    }

    /// Sends `message` to every other rank (rank 0 only), waiting at most the timeout.
    public func send(_ message: StepMessage) {
        guard failure == nil else { return }
        precondition(isFirstRank, "only the first rank sends steps")
        let started = ContinuousClock.now
        let words = message.encoded()
        let others = group.size - 1
        var requests: [MPI_Request?] = Array(repeating: canopy_mpi_request_null(), count: others)
        words.withUnsafeBufferPointer { buffer in
            for peer in 1...others {
                MPI_Isend(buffer.baseAddress, Int32(words.count), canopy_mpi_int64(), Int32(peer), StepMessage.tag,
                          canopy_mpi_comm_world(), &requests[peer - 1])
            }
            if let stuck = MessageWait.all(&requests, timeout: group.timeout) {
                fail("rank \(stuck + 1) did not take the next step within \(group.timeout)")
            }
        }
        record(started, bytes: words.count * 8 * others)
    }

    /// The next message from rank 0 (other ranks), waiting as long as it takes: a rank idles
    /// here while the daemon has no work.
    func receive(blockSize: Int) throws(ParallelError) -> StepMessage {
        let count = MessageWait.probe(source: 0, tag: StepMessage.tag)
        var words = [Int64](repeating: 0, count: count)
        words.withUnsafeMutableBufferPointer { buffer in
            _ = MPI_Recv(buffer.baseAddress, Int32(count), canopy_mpi_int64(), 0, StepMessage.tag,
                         canopy_mpi_comm_world(), canopy_mpi_status_ignore())
        }
        return try StepMessage.decode(words, blockSize: blockSize)
    }

    public func sum(_ values: UnsafeMutablePointer<Double>, count: Int) {
        guard ranks > 1, failure == nil else { return }
        let started = ContinuousClock.now
        if partials.count < ranks * count { partials = [Double](repeating: 0, count: ranks * count) }
        partials.withUnsafeMutableBufferPointer { slots in
            let base = slots.baseAddress!
            (base + rank * count).update(from: values, count: count)
            var requests: [MPI_Request?] = []
            for peer in 0..<ranks where peer != rank {
                var send: MPI_Request? = canopy_mpi_request_null()
                var receive: MPI_Request? = canopy_mpi_request_null()
                MPI_Isend(base + rank * count, Int32(count), canopy_mpi_double(), Int32(stagePeer(peer)), Self.sumTag,
                          canopy_mpi_comm_world(), &send)
                MPI_Irecv(base + peer * count, Int32(count), canopy_mpi_double(), Int32(stagePeer(peer)), Self.sumTag,
                          canopy_mpi_comm_world(), &receive)
                requests += [send, receive]
            }
            if let stuck = MessageWait.all(&requests, timeout: group.timeout) {
                let peer = (0..<ranks).filter { $0 != rank }[stuck / 2]
                return fail("rank \(stagePeer(peer)) sent no partial sums within \(group.timeout)")
            }
            // Rank order, on every rank: the same additions, the same bits.
            values.update(from: base, count: count)
            for r in 1..<ranks {
                let part = base + r * count
                for i in 0..<count { values[i] += part[i] }
            }
        }
        record(started, bytes: count * MemoryLayout<Double>.stride * (ranks - 1))
    }

    public func gatherColumns(
        _ part: UnsafePointer<Float>, rows: Int, columns: Range<Int>, width: Int, into whole: UnsafeMutablePointer<Float>?
    ) {
        // Without pipeline stages, the gather is a pass's last exchange (every pass has one,
        // even without logits).
        defer { if isFirstRank { endPass() } }
        guard failure == nil, rows > 0 else { return }
        if rank != 0 {
            return transfer(UnsafeMutableRawPointer(mutating: part), count: rows * columns.count, peer: stagePeer(0),
                            tag: Self.logitsTag, sending: true, what: "logits")
        }
        let started = ContinuousClock.now
        guard let whole else { preconditionFailure("rank 0 gathers into a buffer") }
        let spans = (0..<ranks).map { TensorShard.part(width, of: ranks, $0) }
        let total = rows * width
        if gathered.count < total { gathered = [Float](repeating: 0, count: total) }
        gathered.withUnsafeMutableBufferPointer { buffer in
            var requests: [MPI_Request?] = Array(repeating: canopy_mpi_request_null(), count: ranks - 1)
            var offset = rows * spans[0].count
            for peer in 1..<ranks {
                MPI_Irecv(buffer.baseAddress! + offset, Int32(rows * spans[peer].count), canopy_mpi_float(),
                          Int32(stagePeer(peer)), Self.logitsTag, canopy_mpi_comm_world(), &requests[peer - 1])
                offset += rows * spans[peer].count
            }
            if let stuck = MessageWait.all(&requests, timeout: group.timeout) {
                return fail("rank \(stagePeer(stuck + 1)) sent no logits within \(group.timeout)")
            }
            // Rank 0's own part is `part`; peer p's was received after rank 0's slot and
            // those of peers 1..<p, as above.
            offset = rows * spans[0].count
            for peer in 0..<ranks {
                let span = spans[peer]
                let source = peer == 0 ? part : UnsafePointer(buffer.baseAddress! + offset)
                for r in 0..<rows {
                    (whole + r * width + span.lowerBound).update(from: source + r * span.count, count: span.count)
                }
                if peer > 0 { offset += rows * span.count }
            }
        }
        record(started, bytes: 0)
    }

    public func sendActivations(_ values: UnsafePointer<Float>, count: Int) {
        transfer(UnsafeMutableRawPointer(mutating: values), count: count, peer: group.rank + ranks,
                 tag: Self.activationsTag, sending: true, what: "activations")
    }

    public func receiveActivations(into values: UnsafeMutablePointer<Float>, count: Int) {
        transfer(values, count: count, peer: group.rank - ranks, tag: Self.activationsTag, sending: false,
                 what: "activations")
    }

    public func sendLogits(_ values: UnsafePointer<Float>, count: Int) {
        transfer(UnsafeMutableRawPointer(mutating: values), count: count, peer: 0, tag: Self.logitsTag, sending: true,
                 what: "logits")
    }

    public func collectLogits<E: Error>(
        into parts: [UnsafeMutableBufferPointer<Float>], while body: () throws(E) -> Void
    ) throws(E) {
        let source = Int32((stages - 1) * ranks)
        var requests: [MPI_Request?] = parts.map { part in
            var request: MPI_Request? = canopy_mpi_request_null()
            if part.count > 0 {
                MPI_Irecv(part.baseAddress, Int32(part.count), canopy_mpi_float(), source, Self.logitsTag,
                          canopy_mpi_comm_world(), &request)
            }
            return request
        }
        var failed: E?
        do { try body() } catch { failed = error }
        let started = ContinuousClock.now
        if failure == nil, let stuck = MessageWait.all(&requests, timeout: group.timeout) {
            fail("rank \(source) sent no logits for micro-batch \(stuck) within \(group.timeout)")
        }
        record(started, bytes: 0)
        endPass()
        if let failed { throw failed }
    }

    /// One message of `count` floats to or from job rank `peer`, within the timeout.
    private func transfer(
        _ values: UnsafeMutableRawPointer, count: Int, peer: Int, tag: Int32, sending: Bool, what: String
    ) {
        guard failure == nil, count > 0 else { return }
        let started = ContinuousClock.now
        var request: [MPI_Request?] = [canopy_mpi_request_null()]
        if sending {
            MPI_Isend(values, Int32(count), canopy_mpi_float(), Int32(peer), tag, canopy_mpi_comm_world(), &request[0])
        } else {
            MPI_Irecv(values, Int32(count), canopy_mpi_float(), Int32(peer), tag, canopy_mpi_comm_world(), &request[0])
        }
        if MessageWait.all(&request, timeout: group.timeout) != nil {
            return fail(sending ? "rank \(peer) took no \(what) within \(group.timeout)"
                                : "rank \(peer) sent no \(what) within \(group.timeout)")
        }
        record(started, bytes: sending ? count * 4 : 0)
    }

    /// The first rank: logits of the pass in progress arrived (it may be over).
    private func endPass() {
        passEnded = .now
    }

    /// The first rank: counts the pass begun by the last `distribute` and its time, up to
    /// its last logits.
    private func countPass() {
        guard let passStarted, let passEnded, passEnded >= passStarted else { return }
        let elapsed = passEnded - passStarted
        counters.withLock {
            $0.passes += 1
            $0.passSeconds += Self.seconds(elapsed)
        }
        self.passStarted = nil
    }

    private func fail(_ reason: String) {
        let first = lost.withLock { lost -> Bool in
            guard lost == nil else { return false }
            lost = reason
            return true
        }
        if first { onFailure(reason) }
    }

    private func record(_ started: ContinuousClock.Instant, bytes: Int) {
        let elapsed = ContinuousClock.now - started
        counters.withLock {
            $0.seconds += Self.seconds(elapsed)
            $0.bytesSent += bytes
            $0.exchanges += 1
        }
    }

    /// `duration` in seconds.
    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
}
