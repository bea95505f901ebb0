import CAllocationCounter
import CanopyKV
import CanopyKernels
import CanopyModel
import Foundation
import Testing

@testable import CanopyEngine

/// The decode loop allocates nothing in steady state: after warm-up, a decode step through
/// the model, and a whole engine step (schedule, forward pass, greedy and top-k/top-p
/// sampling, detokenizing, events to the sink), make no heap allocation at all.
///
/// Counting is process-wide (`CAllocationCounter` interposes malloc and friends), so these
/// tests only run in a process of their own: `make test` runs them in a second `swift test`
/// invocation with `CANOPY_ALLOCATION_TESTS=1` and `--filter SteadyStateAllocationTests`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CANOPY_ALLOCATION_TESTS"] == "1"))
struct SteadyStateAllocationTests {
    /// Heap allocations made while `body` runs.
    private func allocations(_ body: () -> Void) -> UInt64 {
        let before = canopy_allocation_count()
        canopy_count_allocations(true)
        body()
        canopy_count_allocations(false)
        return canopy_allocation_count() - before
    }

    /// The counter sees allocations at all (otherwise every other check here would pass
    /// vacuously).
    @Test func counterSeesAllocations() {
        var keep: [[Int]] = []
        let counted = allocations {
            for i in 0..<10 { keep.append([Int](repeating: i, count: 100 + i)) }
        }
        #expect(keep.count == 10)
        #expect(counted >= 10, "the allocation counter is not interposed: \(counted)")
    }

    /// Single-sequence decode straight through the model, with a reused batch and logits buffer.
    @Test func modelDecodeStep() throws {
        let loaded = try EngineFixtures.model()
        let model = loaded.model
        let vocabulary = loaded.config.vocabularySize
        let prompt: [Int32] = loaded.tokenizer.encode("The capital of France is", addSpecial: true, parseSpecial: false)
        let cache = SingleSequenceCache(config: loaded.config, capacity: prompt.count + 64)
        var batch = ForwardBatch()
        batch.reserveCapacity(tokens: prompt.count, sequences: 1, blockTableEntries: 16)
        var logits = [Float](repeating: 0, count: vocabulary)
        cache.append(prompt, at: 0, to: &batch, wantsLogits: true)
        try logits.withUnsafeMutableBufferPointer { try model.forward(batch, kv: cache.storage, logits: $0) }
        var position = prompt.count
        var tokens: [Int32] = [0]
        tokens.reserveCapacity(1)
        var failedPasses = 0
        func step() {
            tokens[0] = logits.withUnsafeBufferPointer { Sampler.argmax($0.baseAddress!, count: vocabulary) }
            batch.removeAll()
            cache.append(tokens, at: position, to: &batch, wantsLogits: true)
            do {
                try logits.withUnsafeMutableBufferPointer { try model.forward(batch, kv: cache.storage, logits: $0) }
            } catch {
                failedPasses += 1
            }
            position += 1
        }
        // Warm-up: scratch, plans and every pool thread's buffers reach size (each thread
        // allocates its scratch the first time it claims work, which a loaded machine delays).
        for _ in 0..<16 { step() }
        let counted = allocations { for _ in 0..<32 { step() } }
        #expect(counted == 0, "\(counted) allocations in 32 decode steps")
        #expect(failedPasses == 0)
    }

    /// Engine steps with a greedy stream and three seeded sampled ones decoding together: top-k
    /// with top-p, top-p alone and no cut at all (the sampler's ranking reaches as deep as the
    /// draw needs, which varies from token to token).
    @Test func engineDecodeStep() throws {
        let config = EngineConfig()
        let (core, loaded) = try EngineFixtures.core(config)
        let preparer = PromptPreparer(loaded: loaded, defaultMaxTokens: nil, cacheCapacity: 256 * config.blockSize)
        for i in 0..<4 {
            var sampling = SamplingParams()
            sampling.seed = UInt64(i)
            switch i {
            case 0: sampling.temperature = 0
            case 1: (sampling.temperature, sampling.topK, sampling.topP) = (0.8, 40, 0.95)
            case 2: (sampling.temperature, sampling.topP) = (0.8, 0.9)
            default: sampling.temperature = 1
            }
            var stop = StopParams()
            stop.maxTokens = 200
            stop.ignoreEndOfGeneration = true
            let request = Request(id: "r\(i)", prompt: .text("Story number \(i): once upon a time"), sampling: sampling, stop: stop)
            let prepared = try preparer.prepare(request)
            core.add(RequestState(request: request, promptIDs: prepared.promptTokenIDs, maxTokens: prepared.maxTokens,
                                  endTokens: [], sink: { _ in }), key: UInt64(i))
        }
        for _ in 0..<16 { core.step() }  // prefill and warm-up, as above
        #expect(core.runningCount == 4)
        let counted = allocations { for _ in 0..<32 { core.step() } }
        #expect(core.runningCount == 4)
        #expect(counted == 0, "\(counted) allocations in 32 engine steps of 4 streams")
    }
}
