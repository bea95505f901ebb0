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
