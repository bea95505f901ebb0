import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

@testable import CanopyEngine
@testable import CanopyKV

/// The KV swap tier (`--kv-swap-space`) on the default model: preemption by swapping, the
/// tier's prefix cache, and the fallbacks to recomputation. Greedy outputs must be bitwise
/// identical to a roomy run whatever the tier does.
@Suite("KV swap on the default model", .serialized)
struct KVSwapEngineTests {
    static let generated = 32

    /// Greedy requests over the short fixture prompts (a distinct token appended on reuse),
    /// and the arena blocks each one needs.
    static func workload(_ loaded: LoadedModel, count: Int) throws -> (requests: [Request], blocks: [Int]) {
        let prompts = try EngineFixtures.records().map(\.prompt_ids).filter { $0.count < 100 }
        var requests: [Request] = []
        var blocks: [Int] = []
        for i in 0..<count {
            let prompt = prompts[i % prompts.count] + (i >= prompts.count ? [Int32(1000 + i)] : [])
            requests.append(greedyRequest("s\(i)", ids: prompt, maxTokens: generated))
            blocks.append((prompt.count + generated + 15) / 16)
        }
        return (requests, blocks)
    }

    static func layout(_ loaded: LoadedModel) -> PagedKVLayout {
        PagedKVLayout(
            blockSize: 16, layers: loaded.config.blockCount, kvHeads: loaded.config.headCountKV,
            headDimension: loaded.config.headDimension, precision: .f16)
    }

    /// Runs every request at once and returns the generated ids, after checking the engine's
    /// KV state is consistent and empty.
    static func runAll(_ engine: Engine, _ requests: [Request]) throws -> [[Int32]] {
        let collectors = requests.map { _ in EventCollector() }
        for (request, collector) in zip(requests, collectors) {
            try engine.submit(request, onEvent: collector.handler)
        }
        let outputs = try collectors.map { try #require($0.wait(), "a request never completed") }
        engine.waitUntilIdle()
        #expect(engine.kvInvariantViolations() == [])
        let kv = engine.metrics().kv
        #expect(kv.usedBlocks == 0, "blocks leaked: \(kv)")
        #expect(kv.swappedSequences == 0 && kv.swapFreeSlots + kv.swapCachedBlocks == kv.swapSlots, "swap slots leaked: \(kv)")
        return outputs.map { $0.samples[0].tokenIDs }
    }

    /// The workload alone on a roomy engine (no preemption, no swap).
    static func reference(_ loaded: LoadedModel, _ requests: [Request]) throws -> [[Int32]] {
        let roomy = try Engine(loaded: loaded, config: EngineConfig())
        defer { roomy.shutdown() }
        let tokens = try runAll(roomy, requests)
        #expect(roomy.metrics().preemptions == 0)
        return tokens
    }

    /// An engine whose arena holds a third of what `blocks` need (at least the largest
    /// request and one more block).
    static func tightConfig(_ loaded: LoadedModel, blocks: [Int], swapBlocks: Int) -> EngineConfig {
        var config = EngineConfig()
        let arena = max(blocks.reduce(0, +) / 3, blocks.max()! + 1)
        config.kvCacheMemory = arena * layout(loaded).blockBytes
        config.kvSwapSpace = swapBlocks * layout(loaded).blockBytes
        return config
    }

    @Test("a workload needing 3x the arena swaps and gives the roomy run's tokens exactly")
    func threeTimesTheArena() throws {
        let loaded = try EngineFixtures.model()
        let (requests, blocks) = try Self.workload(loaded, count: 16)
        let expected = try Self.reference(loaded, requests)
        let config = Self.tightConfig(loaded, blocks: blocks, swapBlocks: blocks.reduce(0, +))
        let arenaBlocks = config.kvCacheMemory / Self.layout(loaded).blockBytes
        #expect(blocks.reduce(0, +) >= 3 * arenaBlocks, "the workload must need 3x the arena")
        let engine = try Engine(loaded: loaded, config: config)
        defer { engine.shutdown() }
        let tokens = try Self.runAll(engine, requests)
        #expect(tokens == expected)
        let m = engine.metrics()
        #expect(m.swapPreemptions > 0, "no sequence was swapped out: \(m.preemptions) preemptions")
        #expect(m.kv.swapOutBlocks > 0 && m.kv.swapInBlocks > 0 && m.kv.swapOutBytes == m.kv.swapOutBlocks * m.kv.swapSlotBytes)
        #expect(m.kv.swapFailures == 0)
    }

    @Test("with a tier estimated far slower than prefill, every preemption recomputes")
    func slowTierRecomputes() throws {
        let loaded = try EngineFixtures.model()
        let (requests, blocks) = try Self.workload(loaded, count: 10)
        let expected = try Self.reference(loaded, requests)
        // 1 byte/s: only real swaps would update it, and none happens.
        let engine = try Engine(
            loaded: loaded, config: Self.tightConfig(loaded, blocks: blocks, swapBlocks: blocks.reduce(0, +)),
            costModel: PreemptionCostModel(swapBytesPerSecond: 1))
        defer { engine.shutdown() }
        #expect(try Self.runAll(engine, requests) == expected)
        let m = engine.metrics()
        #expect(m.preemptions > 0 && m.swapPreemptions == 0, "\(m.preemptions) preemptions, \(m.swapPreemptions) swapped")
        #expect(m.kv.swappedSequences == 0 && m.kv.swapFailures == 0)
    }

    @Test("a prefix evicted from the arena to the tier is hit there, with the same output")
    func prefixSwapHit() throws {
        let loaded = try EngineFixtures.model()
        let records = try EngineFixtures.records()
        let all = records.flatMap(\.prompt_ids)
        let first = Array(all.prefix(69))  // 4 full blocks and 5 tokens
        let second = Array(all.dropFirst(69).prefix(110))
        var config = EngineConfig()
        config.kvCacheMemory = 8 * Self.layout(loaded).blockBytes
        config.kvSwapSpace = 16 * Self.layout(loaded).blockBytes
        let engine = try Engine(loaded: loaded, config: config)
        defer { engine.shutdown() }
        let before = try engine.run(greedyRequest("a", ids: first, maxTokens: 8))
        _ = try engine.run(greedyRequest("b", ids: second, maxTokens: 8))  // evicts a's blocks
        engine.waitUntilIdle()
        #expect(engine.metrics().kv.swapCachedBlocks >= 4)
        let again = try engine.run(greedyRequest("a2", ids: first, maxTokens: 8))
        engine.waitUntilIdle()
        let m = engine.metrics()
        #expect(again.metrics.cachedPromptTokens == 64)
        #expect(m.kv.prefixSwapHits >= 4)
        #expect(again.samples[0].tokenIDs == before.samples[0].tokenIDs)
        #expect(engine.kvInvariantViolations() == [])
        #expect(m.kv.usedBlocks == 0)
    }

    @Test("a tier too small for any sequence: preemptions recompute, same tokens, nothing leaked")
    func fullTierRecomputes() throws {
        let loaded = try EngineFixtures.model()
        let (requests, blocks) = try Self.workload(loaded, count: 10)
        let expected = try Self.reference(loaded, requests)
        let engine = try Engine(loaded: loaded, config: Self.tightConfig(loaded, blocks: blocks, swapBlocks: 1))
        defer { engine.shutdown() }
        #expect(try Self.runAll(engine, requests) == expected)
        let m = engine.metrics()
        #expect(m.recomputePreemptions > 0, "\(m.preemptions) preemptions, \(m.swapPreemptions) swapped")
        #expect(m.kv.swapSlots == 1)
    }

    @Test("failing swap writes or reads fall back to recomputation with the same tokens", arguments: [true, false])
    func ioErrorsRecompute(failWrites: Bool) throws {
        let loaded = try EngineFixtures.model()
        let (requests, blocks) = try Self.workload(loaded, count: 10)
        let expected = try Self.reference(loaded, requests)
        let engine = try Engine(
            loaded: loaded, config: Self.tightConfig(loaded, blocks: blocks, swapBlocks: blocks.reduce(0, +)))
        defer { engine.shutdown() }
        let tier = try #require(engine.kvSwapTier)
        tier.injectedFailure = { operation, _ in (operation == .write) == failWrites ? EIO : nil }
        #expect(try Self.runAll(engine, requests) == expected)
        let m = engine.metrics()
        #expect(m.kv.swapFailures > 0, "no transfer was attempted")
        if failWrites {
            #expect(m.recomputePreemptions > 0 && m.swapPreemptions == 0 && m.kv.swapOutBlocks == 0)
        } else {
            #expect(m.swapPreemptions > 0 && m.kv.swapInBlocks == 0)
        }
    }
}
