import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation

/// The ranks of a parallel job as threads of this process, each with its own part of the
/// default model and its own KV cache: `tensorParallel` ranks per pipeline stage, job rank
/// `r` being tensor-parallel rank `r % tensorParallel` of stage `r / tensorParallel`, as in
/// `MPIExchange`. Tests the arithmetic of the splits without MPI.
final class ThreadGroup: @unchecked Sendable {
    let ranks: [LoadedModel]
    private let exchanges: [ThreadExchange]

    init(tensorParallel: Int, pipelineParallel: Int = 1, precision: MatMulPrecision = .quantizedActivations) throws {
        exchanges = ThreadExchange.job(tensorParallel: tensorParallel, stages: pipelineParallel)
        ranks = try exchanges.map { try LoadedModel(path: FixturePaths.defaultModel, precision: precision, exchange: $0) }
    }

    /// Greedy decoding on every rank at once, every rank feeding the tokens the first rank
    /// chose, as the daemon's step messages do; the first rank's tokens and first-step logits.
    func greedy(prompt: [Int32], steps: Int) throws -> (tokens: [Int32], firstLogits: [Float]) {
        try onEveryRank { rank in try self.decode(rank: rank, prompt: prompt, steps: steps) }
    }

    /// One forward pass over `batch` on every rank at once, each with its own cache of
    /// `capacity` positions (blocks 0, 1, 2, ...); the first rank's logits.
    func forward(_ batch: ForwardBatch, capacity: Int) throws -> [Float] {
        try onEveryRank { rank in
            let model = self.ranks[rank].model
            let cache = SingleSequenceCache(config: model.config, capacity: capacity)
            return try model.forward(batch, kv: cache.storage)
        }
    }

    /// Runs `body` for every rank, each on its own thread, and returns the first rank's result.
    private func onEveryRank<T: Sendable>(_ body: @escaping @Sendable (_ rank: Int) throws -> T) throws -> T {
        let results = Locked<[Int: Result<T, any Error>]>([:])
        let threads = ranks.indices.map { rank in
            Thread {
                // Kernels keep process-wide scratch: one rank computes at a time (it lets go
                // of the lock only while it waits for another).
                ThreadExchange.compute.lock()
                let result = Result { try body(rank) }
                ThreadExchange.compute.unlock()
                results.withLock { $0[rank] = result }
            }
        }
        threads.forEach { $0.start() }
        while results.withLock({ $0.count }) < ranks.count { usleep(1000) }
        return try results.withLock { $0[0]! }.get()
    }

    private func decode(rank: Int, prompt: [Int32], steps: Int) throws -> ([Int32], [Float]) {
        // Only the first rank holds whole logits; it tells the others its choice.
        let exchange = exchanges[rank]
        return try greedyDecode(ranks[rank], prompt: prompt, steps: steps, stopAt: []) { logits in
            exchange.agree(rank == 0 ? argmax(logits, count: logits.count) : nil)
        }
    }
}

/// `ShardExchange` between threads: a stage's collectives deposit every rank's values in
/// shared slots, wait for the stage's ranks, and combine them in rank order, as
/// `MPIExchange` does; messages between stages go through a mailbox.
final class ThreadExchange: ShardExchange, @unchecked Sendable {
    /// Held by the rank that computes; the C kernels' scratch is shared by the process, so
    /// two ranks must not run kernels at once.
    static let compute = NSLock()
    let rank: Int
    let ranks: Int
    let stage: Int
    let stages: Int
    private let stageBoard: Board
    private let jobBoard: Board
    private let mailbox: Mailbox

    /// Slots and a barrier for `parties` threads.
    final class Board: @unchecked Sendable {
        let condition = NSCondition()
        let parties: Int
        var slots: [[Float]]
        var wideSlots: [[Double]]
        var arrived = 0
        var generation = 0
        var token: Int32 = 0
        init(parties: Int) {
            self.parties = parties
            slots = Array(repeating: [], count: parties)
            wideSlots = Array(repeating: [], count: parties)
        }

        /// Blocks until every party has called it for this generation, computing nothing
        /// meanwhile (the caller's hold on `compute` is let go while it waits).
        func barrier() {
            ThreadExchange.compute.unlock()
            defer { ThreadExchange.compute.lock() }
            condition.lock()
            let mine = generation
            arrived += 1
            if arrived == parties {
                arrived = 0
                generation += 1
                condition.broadcast()
            } else {
                while generation == mine { condition.wait() }
            }
            condition.unlock()
        }
    }

    /// Messages between job ranks, in order per (from, to).
    final class Mailbox: @unchecked Sendable {
        let condition = NSCondition()
        var queues: [[Int]: [[Float]]] = [:]

        func send(_ values: [Float], from: Int, to: Int) {
            condition.lock()
            queues[[from, to], default: []].append(values)
            condition.broadcast()
            condition.unlock()
        }

        func receive(from: Int, to: Int) -> [Float] {
            ThreadExchange.compute.unlock()
            defer { ThreadExchange.compute.lock() }
            condition.lock()
            while queues[[from, to], default: []].isEmpty { condition.wait() }
            let values = queues[[from, to]]!.removeFirst()
            condition.unlock()
            return values
        }
    }

    static func job(tensorParallel: Int, stages: Int) -> [ThreadExchange] {
        let boards = (0..<stages).map { _ in Board(parties: tensorParallel) }
        let job = Board(parties: tensorParallel * stages)
        let mailbox = Mailbox()
        return (0..<(tensorParallel * stages)).map { r in
            ThreadExchange(rank: r % tensorParallel, ranks: tensorParallel, stage: r / tensorParallel, stages: stages,
                           stageBoard: boards[r / tensorParallel], jobBoard: job, mailbox: mailbox)
        }
    }

    private init(rank: Int, ranks: Int, stage: Int, stages: Int, stageBoard: Board, jobBoard: Board, mailbox: Mailbox) {
        self.rank = rank
        self.ranks = ranks
        self.stage = stage
        self.stages = stages
        self.stageBoard = stageBoard
        self.jobBoard = jobBoard
        self.mailbox = mailbox
    }

    private var jobRank: Int { stage * ranks + rank }

    var failure: String? { nil }
    var statistics: ExchangeCounters { ExchangeCounters() }

    /// The first rank's `token`, on every rank (the others pass nil).
    func agree(_ token: Int32?) -> Int32 {
        if let token {
            jobBoard.condition.lock()
            jobBoard.token = token
            jobBoard.condition.unlock()
        }
        jobBoard.barrier()
        jobBoard.condition.lock()
        let agreed = jobBoard.token
        jobBoard.condition.unlock()
        jobBoard.barrier()
        return agreed
    }

    func distribute(_ batch: ForwardBatch, copies: [BlockCopyLog.Copy]) {}

    func sum(_ values: UnsafeMutablePointer<Double>, count: Int) {
        stageBoard.condition.lock()
        stageBoard.wideSlots[rank] = Array(UnsafeBufferPointer(start: values, count: count))
        stageBoard.condition.unlock()
        stageBoard.barrier()
        stageBoard.condition.lock()
        let parts = stageBoard.wideSlots
        stageBoard.condition.unlock()
        for i in 0..<count {
            var total = parts[0][i]
            for r in 1..<ranks { total += parts[r][i] }
            values[i] = total
        }
        stageBoard.barrier()
    }

    func gatherColumns(
        _ part: UnsafePointer<Float>, rows: Int, columns: Range<Int>, width: Int, into whole: UnsafeMutablePointer<Float>?
    ) {
        stageBoard.condition.lock()
        stageBoard.slots[rank] = Array(UnsafeBufferPointer(start: part, count: rows * columns.count))
        stageBoard.condition.unlock()
        stageBoard.barrier()
        if let whole {
            for r in 0..<ranks {
                let span = TensorShard.part(width, of: ranks, r)
                let values = stageBoard.slots[r]
                for row in 0..<rows {
                    for j in 0..<span.count { whole[row * width + span.lowerBound + j] = values[row * span.count + j] }
                }
            }
        }
        stageBoard.barrier()
    }

    func sendActivations(_ values: UnsafePointer<Float>, count: Int) {
        mailbox.send(Array(UnsafeBufferPointer(start: values, count: count)), from: jobRank, to: jobRank + ranks)
    }

    func receiveActivations(into values: UnsafeMutablePointer<Float>, count: Int) {
        let message = mailbox.receive(from: jobRank - ranks, to: jobRank)
        precondition(message.count == count, "activations of another size")
        values.update(from: message, count: count)
    }

    func sendLogits(_ values: UnsafePointer<Float>, count: Int) {
        mailbox.send(Array(UnsafeBufferPointer(start: values, count: count)), from: jobRank, to: 0)
    }

    func collectLogits<E: Error>(
        into parts: [UnsafeMutableBufferPointer<Float>], while body: () throws(E) -> Void
    ) throws(E) {
        try body()
        for part in parts where part.count > 0 {
            let message = mailbox.receive(from: (stages - 1) * ranks, to: 0)
            precondition(message.count == part.count, "logits of another size")
            _ = part.update(from: message)
        }
    }
}
