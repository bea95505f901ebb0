import CanopyEngine
import CanopyModel
import Foundation
import Testing

/// The serving engine on `moe-tiny` with experts offloaded (`--expert-cache`): concurrent
/// requests give exactly the outputs (tokens and log-probabilities) of the fully mapped
/// model at 25 %, 50 % and 100 % of the experts' bytes, and the metrics carry the expert load
/// and cache counters.
@Suite("Engine with an expert cache", .serialized)
struct ExpertCacheEngineTests {
    /// The 4 fixture prompts twice, plus prefixes of the long one: 12 concurrent requests.
    static func requests() throws -> [Request] {
        let records = try MoEEngineTests.records()
        var requests: [Request] = []
        for copy in 0..<2 {
            for (i, record) in records.enumerated() {
                requests.append(greedyRequest("c\(copy)-\(i)", ids: record.prompt_ids, maxTokens: record.n_predict))
            }
        }
        for length in [3, 5, 40, 60] {
            requests.append(greedyRequest("p\(length)", ids: Array(records[2].prompt_ids.prefix(length)), maxTokens: 8))
        }
        for i in requests.indices { requests[i].sampling.logprobs = 5 }
        return requests
    }

    /// Runs every request at once on a fresh engine over `loaded`; returns outputs in order.
    static func runConcurrently(_ loaded: LoadedModel, _ requests: [Request]) throws -> (outputs: [[SampleOutput]], metrics: EngineMetrics) {
        var config = EngineConfig()
        // A small step budget chunks the long prompt between decode steps of the others.
        config.maxBatchedTokens = 32
        let engine = try Engine(loaded: loaded, config: config)
        defer { engine.shutdown() }
        let collectors = requests.map { _ in EventCollector() }
        for (request, collector) in zip(requests, collectors) {
            try engine.submit(request, onEvent: collector.handler)
        }
        let outputs = try collectors.map { try #require($0.wait()).samples }
        engine.waitUntilIdle()
        return (outputs, engine.metrics())
    }

    @Test("25 %, 50 % and 100 % of the experts: identical outputs, plausible hit rates", arguments: [0.25, 0.5, 1.0])
    func identicalOutputs(fraction: Double) throws {
        let requests = try Self.requests()
        let mapped = try LoadedModel(path: MoEEngineTests.path)
        let (reference, referenceMetrics) = try Self.runConcurrently(mapped, requests)
        #expect(referenceMetrics.expertCache == nil, "no budget: experts stay memory-mapped")

        let total = try ExpertCache.routedExpertBytes(file: mapped.file, config: mapped.config)
        #expect(total == 12 * 3 * 256 * 128 / 32 * 34, "moe-tiny: 12 experts of three 256 × 128 Q8_0 matrices")
        let offloaded = try LoadedModel(path: MoEEngineTests.path, expertCacheBytes: Int(Double(total) * fraction))
        let (outputs, metrics) = try Self.runConcurrently(offloaded, requests)
        for (i, request) in requests.enumerated() {
            #expect(outputs[i] == reference[i], "request \(request.id) differs with the expert cache at \(fraction)")
        }

        // The load counts the same routings with and without the cache.
        #expect(metrics.expertLoad == referenceMetrics.expertLoad)
        #expect(metrics.expertLoad.count == 3 && metrics.expertLoad.allSatisfy { $0.count == 4 && $0.reduce(0, +) > 0 })
        if fraction >= 1 {
            #expect(offloaded.expertCache == nil && metrics.expertCache == nil, "a budget holding every expert keeps the mapping")
        } else {
            let cache = try #require(metrics.expertCache)
            #expect(cache.slots == Int(Double(12) * fraction))
            // Every use is a hit or a miss; a cache smaller than the experts must miss. (How
            // many hits there are depends on prefetch timing, so only the bounds are checked.)
            #expect(cache.hits + cache.misses > 0 && cache.misses > 0)
            #expect(cache.hitRatio >= 0 && cache.hitRatio < 1, "hit ratio \(cache.hitRatio) with \(cache.slots) of 12 experts")
            #expect(cache.hitRatio == Double(cache.hits) / Double(cache.hits + cache.misses))
            #expect(cache.prefetchHits <= cache.hits && cache.prefetchHits <= cache.prefetchLoads)
            #expect(cache.bytesRead == (cache.misses + cache.prefetchLoads) * UInt64(cache.slotBytes))
            #expect(cache.misses + cache.prefetchLoads >= UInt64(cache.slots))
            print("[expert-cache engine] \(Int(fraction * 100)) %: \(cache.slots) slots, hit ratio \(cache.hitRatio), misses \(cache.misses), prefetch hits \(cache.prefetchHits)/\(cache.prefetchLoads)")
        }
    }
}
