import CanopyEngine
import CanopyKV
import CanopyKernels
import CanopyModel
import Foundation
import Testing

/// A randomized workload on a tiny model with a small KV pool, so that prefix sharing,
/// forks, copy-on-write, cancellation, eviction and preemption all happen many times; again
/// with a KV swap tier (`swapBlocks` slots), so that swapping and the tier's prefix cache
/// mix with all of that; and with a draft model proposing for every sequence, so that its
/// own KV cache follows all of that too (it must end holding no block).
@Suite("Engine workload")
struct EngineWorkloadTests {
    @Test(arguments: [(0, false), (32, false), (0, true)])
    func randomizedWorkloadKeepsTheCacheConsistent(swapBlocks: Int, drafting: Bool) throws {
        let loaded = try TinyModel.load()
        var config = EngineConfig()
        config.blockSize = 4
        config.kvPrecision = .f32
        let layout = PagedKVLayout(blockSize: 4, layers: 2, kvHeads: 2, headDimension: 8, precision: .f32)
        config.kvCacheMemory = layout.blockBytes * 48
        config.maxBatchedTokens = 24
        config.maxSequences = 10
        config.defaultMaxTokens = 16
        config.kvSwapSpace = layout.blockBytes * swapBlocks
        var draft: LoadedModel?
        if drafting {
            // The draft's cache takes its share of the same memory.
            config.kvCacheMemory *= 2
            (config.speculative, config.speculativeStepTokens) = (.draft, 64)
            (config.speculativeTokenCost, config.speculativeDraftCost) = (0, 0)
            draft = try TinyModel.load(seed: 1, noise: 0.1)
        }
        let engine = try Engine(loaded: loaded, draft: draft, config: config)

        var random = RandomStream(seed: 7)
        let prefixes: [[Int32]] = (0..<4).map { _ in (0..<12).map { _ in Int32(Int.random(in: 0..<256, using: &random)) } }
        var requests: [Request] = []
        var collectors: [EventCollector] = []
        var keys: [Engine.RequestKey] = []
        var cancelled = Set<Int>()
        for i in 0..<400 {
            var ids = Array(prefixes[Int.random(in: 0..<4, using: &random)].prefix(Int.random(in: 0..<13, using: &random)))
            ids += (0..<Int.random(in: 1..<20, using: &random)).map { _ in Int32(Int.random(in: 0..<256, using: &random)) }
            var request = Request(id: "w\(i)", prompt: .tokenIDs(ids))
            request.sampling.n = Int.random(in: 0..<4, using: &random) == 0 ? Int.random(in: 2..<4, using: &random) : 1
            request.sampling.temperature = Int.random(in: 0..<2, using: &random) == 0 ? 0 : 1
            request.sampling.seed = UInt64(i)
            request.stop.maxTokens = Int.random(in: 1..<25, using: &random)
            let collector = EventCollector()
            keys.append(try engine.submit(request, onEvent: collector.handler))
            requests.append(request)
            collectors.append(collector)
            // Cancel some requests at once and some a little later.
            if Int.random(in: 0..<5, using: &random) == 0 {
                let victim = Int.random(in: max(0, i - 10)..<(i + 1), using: &random)
                engine.cancel(keys[victim])
                cancelled.insert(victim)
            }
            if i % 50 == 49 { usleep(20_000) }
        }
        var outputs: [RequestOutput] = []
        for (i, collector) in collectors.enumerated() {
            let output = try #require(collector.wait(timeout: 120), "request \(i) never completed")
            outputs.append(output)
            let completions = collector.allEvents.filter { if case .completed = $0 { return true } else { return false } }
            #expect(completions.count == 1)
            if !cancelled.contains(i) {
                #expect(output.samples.count == requests[i].sampling.n)
                for sample in output.samples {
                    #expect(sample.finishReason != .cancelled)
                    #expect(sample.tokenIDs.count <= requests[i].stop.maxTokens!)
                    if sample.finishReason == .length { #expect(sample.tokenIDs.count == requests[i].stop.maxTokens!) }
                }
            }
        }
        engine.waitUntilIdle()
        let metrics = engine.metrics()
        #expect(engine.kvInvariantViolations().isEmpty, "\(engine.kvInvariantViolations())")
        #expect(metrics.kv.usedBlocks == 0, "blocks leaked: \(metrics.kv)")
        if drafting { #expect(metrics.speculation.proposedTokens > 100, "\(metrics.speculation)") }
        #expect(metrics.kv.usedBlocks + metrics.kv.freeBlocks == metrics.kv.totalBlocks)
        #expect(metrics.kv.swapSlots == swapBlocks && metrics.kv.swappedSequences == 0)
        if swapBlocks > 0 {
            // Tiny blocks are far cheaper to move than to recompute: preemptions swap, and
            // evicted prefix blocks come back from the tier.
            #expect(metrics.swapPreemptions > 0 && metrics.kv.swapInBlocks > 0, "\(metrics.swapPreemptions) swapped: \(metrics.kv)")
            #expect(metrics.kv.prefixSwapHits > 0, "\(metrics.kv)")
        }
        #expect(metrics.kv.swapFreeSlots + metrics.kv.swapCachedBlocks == metrics.kv.swapSlots, "swap slots leaked: \(metrics.kv)")
        #expect(metrics.preemptions > 0, "the workload should force preemptions")
        #expect(metrics.kv.prefixHits > 0, "shared prefixes should hit the cache")
        #expect(metrics.kv.copyOnWrites > 0, "forks should copy partly filled blocks")
        engine.shutdown()

        // Outputs do not depend on the batch, on preemption or on the cache: greedy requests
        // that finished equal the same request run alone on a roomy engine.
        var roomy = EngineConfig()
        roomy.kvPrecision = .f32
        roomy.blockSize = 4
        roomy.defaultMaxTokens = 16
        let alone = try Engine(loaded: loaded, config: roomy)
        var compared = 0
        for (i, request) in requests.enumerated() where !cancelled.contains(i) && request.sampling.temperature == 0 && compared < 60 {
            let reference = try alone.run(request)
            #expect(reference.samples.map(\.tokenIDs) == outputs[i].samples.map(\.tokenIDs), "request \(i)")
            compared += 1
        }
        alone.shutdown()
    }
}
