import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

/// Expert offloading (`ExpertCache`): with a budget smaller than the experts, outputs stay
/// bit-identical to the memory-mapped model, and the counters add up.
@Suite("Expert cache (offloading)", .serialized)
struct ExpertCacheTests {
    /// moe-tiny: 3 blocks × 4 experts of three 256 × 128 Q8_0 matrices.
    static let expertBytes = 3 * 256 * 128 / 32 * 34
    static let totalExperts = 12

    /// Greedy decoding of all prompts in one batch, returning every step's logits too.
    static func decode(_ loaded: LoadedModel, prompts: [[Int32]], steps: Int) throws -> (tokens: [[Int32]], logits: [[Float]]) {
        let vocabulary = loaded.config.vocabularySize
        let arena = SharedArena(config: loaded.config, capacities: prompts.map { $0.count + steps })
        var batch = ForwardBatch()
        for (i, prompt) in prompts.enumerated() {
            arena.append(prompt, sequence: i, at: 0, to: &batch, wantsLogits: true)
        }
        var logits = try loaded.model.forward(batch, kv: arena.storage)
        var allLogits = [logits]
        var tokens = [[Int32]](repeating: [], count: prompts.count)
        for _ in 0..<steps {
            var next = ForwardBatch()
            for i in prompts.indices {
                let token = argmax(Array(logits[(i * vocabulary)..<((i + 1) * vocabulary)]), count: vocabulary)
                tokens[i].append(token)
                arena.append([token], sequence: i, at: prompts[i].count + tokens[i].count - 1, to: &next, wantsLogits: true)
            }
            logits = try loaded.model.forward(next, kv: arena.storage)
            allLogits.append(logits)
        }
        return (tokens, allLogits)
    }

    @Test("the budget decides the slots; a budget holding every expert keeps the mapping")
    func sizing() throws {
        let full = try LoadedModel(path: MoEModels.moeTinyPath, expertCacheBytes: Self.totalExperts * Self.expertBytes)
        #expect(full.expertCache == nil)
        let none = try LoadedModel(path: MoEModels.moeTinyPath)
        #expect(none.expertCache == nil)
        let half = try #require(try LoadedModel(path: MoEModels.moeTinyPath, expertCacheBytes: 6 * Self.expertBytes + 100).expertCache)
        #expect(half.stats().slots == 6)
        #expect(half.stats().slotBytes == Self.expertBytes)
        #expect(half.stats().totalExperts == Self.totalExperts)
        #expect(half.totalExpertBytes == Self.totalExperts * Self.expertBytes)
        // Never fewer slots than experts per token, so one token can always run.
        let tiny = try #require(try LoadedModel(path: MoEModels.moeTinyPath, expertCacheBytes: 1).expertCache)
        #expect(tiny.stats().slots == 2)
        #expect(throws: ModelLoadError.self) { try LoadedModel(path: MoEModels.moeTinyPath, expertCacheBytes: -1) }
    }

    @Test("25% and 50% of the experts: every logit bit-identical to the mapped model", arguments: [3, 6, 2])
    func bitIdentical(slots: Int) throws {
        let records = try GreedyRecord.load("moe-tiny/greedy.jsonl")
        let prompts = records.map(\.prompt_ids)
        let mapped = try MoEModels.moeTinyModel()
        let cached = try LoadedModel(path: MoEModels.moeTinyPath, expertCacheBytes: slots * Self.expertBytes)
        let cache = try #require(cached.expertCache)
        let steps = 12
        let reference = try Self.decode(mapped, prompts: prompts, steps: steps)
        let offloaded = try Self.decode(cached, prompts: prompts, steps: steps)
        #expect(offloaded.tokens == reference.tokens)
        #expect(offloaded.logits == reference.logits, "logits differ with \(slots) expert slots")
        // Single prompts too (one token per step: few experts per block).
        for (i, record) in records.enumerated() {
            let alone = try greedyDecode(cached, prompt: record.prompt_ids, steps: record.n_predict, stopAt: cached.tokenizer.endOfGenerationTokens)
            let decisive = record.decisiveSteps()
            #expect(Array(alone.tokens.prefix(decisive)) == Array(record.greedy_ids.prefix(decisive)), "record \(i) vs llama.cpp")
            let (mappedTokens, mappedFirst) = try greedyDecode(mapped, prompt: record.prompt_ids, steps: record.n_predict, stopAt: mapped.tokenizer.endOfGenerationTokens)
            #expect(alone.tokens == mappedTokens)
            #expect(alone.firstLogits == mappedFirst)
        }

        let stats = cache.stats()
        #expect(stats.slots == slots)
        #expect(stats.misses + stats.prefetchLoads >= UInt64(slots), "every slot was filled by a miss or a prefetch: \(stats)")
        #expect(stats.hits + stats.misses > 0)
        #expect(stats.hitRatio < 1, "a cache smaller than the experts must miss: \(stats)")
        #expect(stats.prefetchHits <= stats.hits && stats.prefetchHits <= stats.prefetchLoads)
        #expect(stats.bytesRead == (stats.misses + stats.prefetchLoads) * UInt64(Self.expertBytes))
        #expect(stats.evictions > 0)
        print("[expert-cache] \(slots)/12 slots: hit ratio \(stats.hitRatio), \(stats)")
    }

    @Test("concurrent forward passes share one 2-slot cache and stay bit-identical")
    func concurrentForwards() throws {
        let records = try GreedyRecord.load("moe-tiny/greedy.jsonl")
        let mapped = try MoEModels.moeTinyModel()
        let cached = try LoadedModel(path: MoEModels.moeTinyPath, expertCacheBytes: 0)
        #expect(cached.expertCache?.stats().slots == 2)
        let reference = try records.map { try Self.decode(mapped, prompts: [$0.prompt_ids], steps: 6).logits }
        let results = Locked([[[Float]]?](repeating: nil, count: records.count))
        DispatchQueue.concurrentPerform(iterations: records.count) { i in
            let logits = try? Self.decode(cached, prompts: [records[i].prompt_ids], steps: 6).logits  // nil (a failed pass) fails the comparison below
            results.withLock { $0[i] = logits }
        }
        let outputs = results.withLock { $0 }
        for i in records.indices {
            #expect(outputs[i] == reference[i], "record \(i) differs when forward passes run concurrently")
        }
    }

    @Test("Qwen2-MoE with a shared expert: offloaded logits equal mapped ones")
    func qwenSharedExpert() throws {
        let mapped = try MoEModels.qwenTinyModel(.float32)
        let config = try #require(mapped.config.experts)
        let cached = try LoadedModel(path: MoEModels.qwenTinyPath, precision: .float32, expertCacheBytes: 1)
        let stats0 = try #require(cached.expertCache).stats()
        #expect(stats0.slots == config.usedCount)
        let prompts: [[Int32]] = [[1, 2, 3, 40, 50], [7, 8, 9], [100]]
        let reference = try Self.decode(mapped, prompts: prompts, steps: 6)
        let offloaded = try Self.decode(cached, prompts: prompts, steps: 6)
        #expect(offloaded.logits == reference.logits)
        let stats = try #require(cached.expertCache).stats()
        #expect(stats.hits + stats.misses > 0 && stats.misses > 0)
    }

    /// Routed experts behind the cache are read from the file while serving; a file truncated
    /// since load must fail the pass with an error (it trapped the process before), and keep
    /// failing: the file no longer holds the weights the model was loaded with.
    @Test("an expert read from a truncated file fails the pass, not the process")
    func truncatedFileFailsThePass() throws {
        let copy = try ModelFileCopy(of: MoEModels.moeTinyPath)
        let cached = try LoadedModel(path: copy.path, expertCacheBytes: 0)
        let cache = try #require(cached.expertCache)
        #expect(cache.readFailure == nil)
        // Everything but the header: no expert's bytes are left to read.
        #expect(truncate(copy.path, 4096) == 0)
        for _ in 0..<2 {
            #expect(throws: ForwardError.self) { try Self.decode(cached, prompts: [[1, 2, 3]], steps: 1) }
        }
        let reason = try #require(cache.readFailure)
        #expect(reason.contains("unexpected end of file"), "\(reason)")
        do {
            _ = try Self.decode(cached, prompts: [[4, 5]], steps: 0)
            Issue.record("a pass after a failed expert read returned logits")
        } catch {
            guard case .weightsUnreadable(let message) = error as? ForwardError else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(message == reason)
        }
    }
}
