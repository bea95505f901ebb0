import CanopyGGUF
import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

@testable import CanopyEngine

/// A forward pass that cannot get its working memory fails the requests it carried, with an
/// error, and nothing else: the process and the engine go on serving, the requests' blocks
/// are freed, and rows that were reserved but never computed stay out of the prefix cache.
/// (Before, the kernels trapped on a failed scratch growth and took the daemon down.)
///
/// Memory exhaustion is injected with `KernelMemory.setGrowthLimit`, which is process-wide,
/// so these tests only run in a process of their own: `make test` runs them in a separate
/// `swift test` invocation with `CANOPY_FAULT_INJECTION_TESTS=1` and
/// `--filter EngineFaultInjectionTests`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CANOPY_FAULT_INJECTION_TESTS"] == "1"))
struct EngineFaultInjectionTests {
    @Test func outOfMemoryFailsTheBatchNotTheProcess() throws {
        // A model of its own: its pool of forward-pass buffers starts empty.
        let loaded = try LoadedModel(path: EngineFixtures.modelPath)
        let reference = try LlamaCppReference.load()
        let index = 10  // 562 prompt tokens: a 512-token first chunk fills 32 blocks
        let record = reference.machines[0].records[index]
        defer { KernelMemory.setGrowthLimit(nil) }

        // 1. The pass cannot map its activation buffers.
        let first = try Engine(loaded: loaded)
        defer { first.shutdown() }
        try expectFailedThenServed(first, record: record, index: index, reference: reference)

        // 2. The buffers are pooled now, but a new engine thread's kernel scratch cannot grow:
        //    a kernel skips its work, and the pass notices and fails.
        let second = try Engine(loaded: loaded)
        defer { second.shutdown() }
        let failuresBefore = KernelMemory.failureCount
        try expectFailedThenServed(second, record: record, index: index, reference: reference)
        #expect(KernelMemory.failureCount > failuresBefore, "the second failure did not come from a kernel")
    }

    /// SQLite's discipline for allocations: a representative request (a 30-token prompt, 2
    /// samples of 8 tokens, so prefill, decode, copy-on-write and sampling all run) is run
    /// once per allocation it makes, with that one allocation refused. Each run either fails
    /// the request alone with `.outOfMemory`, or (where a caller can do without the memory)
    /// gives exactly the unfaulted output; either way the engine frees every block and then
    /// serves the same request with the unfaulted output.
    @Test func failingEachAllocationOfARequestInTurn() throws {
        // One kernel thread: the kernels run on the engine's own thread, so every new engine
        // starts with empty scratch and makes the same allocations as the first.
        WorkerPool.configure(threads: 1)
        defer { WorkerPool.configure(threads: 0) }
        let path = FamilyFixtures.path("llama3")
        let record = try #require(try GreedyRecord.load("families/llama3/greedy.jsonl").first)
        var request = greedyRequest("sweep", ids: Array(record.prompt_ids.prefix(30)), maxTokens: 8)
        request.sampling.n = 2
        // A model and an engine of their own per run: the model pools its activation buffers.
        func freshEngine() throws -> Engine { try Engine(loaded: LoadedModel(path: path)) }

        let baselineEngine = try freshEngine()
        let start = KernelMemory.growthCount
        let baseline = try baselineEngine.run(request)
        let growths = Int(KernelMemory.growthCount - start)
        baselineEngine.shutdown()
        try #require(baseline.failure == nil)
        #expect(growths >= 3, "the request made only \(growths) allocations")

        var failedRuns = 0
        for n in 1...max(growths, 1) {
            let engine = try freshEngine()
            defer { engine.shutdown() }
            KernelMemory.failGrowth(after: n)
            let faulted = try engine.run(request)
            KernelMemory.failGrowth(after: nil)
            switch faulted.failure {
            case .outOfMemory?:
                failedRuns += 1
            case nil:
                #expect(faulted.samples.map(\.tokenIDs) == baseline.samples.map(\.tokenIDs),
                        "allocation \(n) of \(growths) refused: the request succeeded with another output")
            case let other?:
                Issue.record("allocation \(n) of \(growths) refused: failed with \(other), not out of memory")
            }
            try expectFreedThenServed(engine, request, as: baseline, after: "allocation \(n) was refused")
        }
        #expect(failedRuns > 0, "no refused allocation failed the request: the hook reaches nothing")
        print("fault injection: \(growths) allocations of the request refused in turn, \(failedRuns) failed it, the rest were done without")
    }

    /// The same discipline for file reads: the representative request on a model whose
    /// layers are streamed from the file under a weight budget (`--weight-memory`, read ahead
    /// off so every read is the request's own and their order is fixed) is run once per read
    /// it makes, with that read failing as an I/O error would. Each run fails the request
    /// alone with `.readFailed` (UNAVAILABLE, retryable), frees its blocks, and the next
    /// request, reading the layers afresh, gets the unfaulted output.
    @Test func failingEachFileReadOfARequestInTurn() throws {
        let path = FamilyFixtures.path("llama3")
        let size = try GGUFFile(path: path).fileSize
        let loaded = try LoadedModel(path: path, weightMemoryBytes: size / 2, weightPrefetch: false)
        let placement = try #require(loaded.weightResidency?.placement)
        #expect(placement.streamed.contains(true), "nothing is streamed at half the file's size")
        let record = try #require(try GreedyRecord.load("families/llama3/greedy.jsonl").first)
        let request = greedyRequest("reads", ids: Array(record.prompt_ids.prefix(30)), maxTokens: 8)
        let engine = try Engine(loaded: loaded)
        defer { engine.shutdown() }

        let baseline = try engine.run(request)
        try #require(baseline.failure == nil)
        let start = FileReadFaults.readCount
        let again = try engine.run(request)
        let reads = FileReadFaults.readCount - start
        #expect(again.samples.map(\.tokenIDs) == baseline.samples.map(\.tokenIDs))
        #expect(reads >= 8, "the request read the file only \(reads) times")

        for n in 1...max(reads, 1) {
            FileReadFaults.failRead(after: n)
            let faulted = try engine.run(request)
            FileReadFaults.failRead(after: nil)
            guard case .readFailed(let reason)? = faulted.failure else {
                Issue.record("read \(n) of \(reads) failed: the request ended with \(String(describing: faulted.failure))")
                continue
            }
            #expect(reason.contains(FileReadFaults.reason))
            try expectFreedThenServed(engine, request, as: baseline, after: "read \(n) failed")
        }
        #expect(loaded.weightResidency?.readFailure == nil, "an I/O error on an unchanged file became permanent")
        print("fault injection: \(reads) file reads of the request failed in turn")
    }

    /// After a faulted run (`what` says which fault): the engine is idle with no block or
    /// sequence left, its KV invariants hold, and it serves `request` again as in `baseline`.
    private func expectFreedThenServed(
        _ engine: Engine, _ request: Request, as baseline: RequestOutput, after what: String
    ) throws {
        engine.waitUntilIdle()
        let metrics = engine.metrics()
        #expect(metrics.kv.usedBlocks == 0 && metrics.runningSequences == 0, "after \(what): blocks or sequences left")
        #expect(engine.kvInvariantViolations().isEmpty)
        let next = try engine.run(request)
        #expect(next.failure == nil && next.samples.map(\.tokenIDs) == baseline.samples.map(\.tokenIDs),
                "after \(what), the next request was not served as before")
    }

    /// Runs `record` with every growth refused: the request fails alone with `.outOfMemory`,
    /// all its blocks are freed; then, with memory back, the same prompt is computed afresh
    /// (nothing of the failed pass comes back from the prefix cache) and matches llama.cpp.
    private func expectFailedThenServed(
        _ engine: Engine, record: GreedyRecord, index: Int, reference: LlamaCppReference
    ) throws {
        let before = engine.metrics()
        KernelMemory.setGrowthLimit(0)
        let failed = try engine.run(greedyRequest("oom", ids: record.prompt_ids, maxTokens: 8))
        KernelMemory.setGrowthLimit(nil)
        guard case .outOfMemory(let bytes) = failed.failure else {
            Issue.record("expected an out-of-memory failure, got \(String(describing: failed.failure))")
            return
        }
        #expect(bytes > 0)
        #expect(failed.samples.allSatisfy { $0.tokenIDs.isEmpty })
        engine.waitUntilIdle()
        let metrics = engine.metrics()
        #expect(metrics.requestsFailed == before.requestsFailed + 1 && metrics.requestsCompleted == before.requestsCompleted)
        #expect(metrics.kv.usedBlocks == 0 && metrics.runningSequences == 0 && metrics.waitingSequences == 0)
        #expect(engine.kvInvariantViolations().isEmpty)

        let retried = try engine.run(greedyRequest("retry", ids: record.prompt_ids, maxTokens: record.n_predict))
        #expect(retried.failure == nil)
        #expect(retried.metrics.cachedPromptTokens == 0, "rows of the failed pass were reused from the prefix cache")
        if case .failure(let failure) = reference.judge(retried.samples[0].tokenIDs, record: index) {
            Issue.record("after a failed pass, record \(index) diverged from llama.cpp away from a near tie: \(failure)")
        }
        engine.waitUntilIdle()
        #expect(engine.metrics().requestsCompleted == before.requestsCompleted + 1)
        #expect(engine.kvInvariantViolations().isEmpty)
    }
}
