import CanopyEngine
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

/// Each Llama-family fixture model (`Tests/Fixtures/families/`: Llama 3, Phi-3, Qwen2,
/// Qwen3) through the serving engine on the integer kernels: every llama.cpp prompt alone,
/// then all at once under a small step budget, so long prompts are chunked between the
/// others' decodes. Batching must not change a token, the runs must follow llama.cpp's up
/// to its first near tie (with the allowance `FamilyFixtures` explains), and no KV block may
/// be left behind.
@Suite("Engine on the model families", .serialized)
struct FamilyEngineTests {
    @Test(arguments: FamilyFixtures.families)
    func batchedGreedyRunsFollowLlamaCpp(family: String) throws {
        let loaded = try LoadedModel(path: FamilyFixtures.path(family))
        let records = try GreedyRecord.load("families/\(family)/greedy.jsonl")
        let requests = records.enumerated().map { greedyRequest("\(family)\($0)", ids: $1.prompt_ids, maxTokens: $1.n_predict) }
        var config = EngineConfig()
        config.kvCacheMemory = 16 << 20
        let alone = try Engine(loaded: loaded, config: config)
        let aloneTokens = try requests.map { try alone.run($0).samples[0].tokenIDs }
        alone.shutdown()

        config.maxBatchedTokens = 48
        let engine = try Engine(loaded: loaded, config: config)
        let outputs = try engine.runAll(requests)
        var outside: [String] = []
        for (i, (record, output)) in zip(records, outputs).enumerated() {
            let tokens = output.samples[0].tokenIDs
            #expect(tokens == aloneTokens[i], "\(family) record \(i) differs when batched")
            if case .failure(let failure) = record.compare(tokens) { outside.append("record \(i): \(failure)") }
            if let gap = record.gapAtDivergence(tokens) {
                #expect(gap <= FamilyFixtures.largestGap, "\(family) record \(i): parts from llama.cpp \(gap) below its top-1")
            }
        }
        #expect(outside.count <= FamilyFixtures.strictFailures[family, default: 0], "\(family): \(outside)")
        engine.waitUntilIdle()
        #expect(engine.metrics().kv.usedBlocks == 0)
        #expect(engine.kvInvariantViolations().isEmpty)
        engine.shutdown()
    }
}
