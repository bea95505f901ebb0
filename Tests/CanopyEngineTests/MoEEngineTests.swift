import CanopyEngine
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

/// The serving engine on the Mixtral-style `moe-tiny` model (`Tests/Fixtures/moe-tiny`, see
/// its README): MoE models load through `LoadedModel` like dense ones, and batching many
/// requests (which groups their tokens by expert) does not change any request's output.
@Suite("Engine on a mixture-of-experts model", .serialized)
struct MoEEngineTests {
    static let path = EngineFixtures.directory.appendingPathComponent("moe-tiny/moe-tiny.gguf").path

    /// The records of `moe-tiny/greedy.jsonl` (raw token ids, no prompt text).
    static func records() throws -> [GreedyRecord] {
        try GreedyRecord.load("moe-tiny/greedy.jsonl")
    }

    @Test func concurrentRequestsMatchSingleRequests() throws {
        let loaded = try LoadedModel(path: Self.path)
        #expect(loaded.config.experts?.count == 4)
        let records = try Self.records()
        try #require(records.count == 4)

        let alone = try Engine(loaded: loaded, config: EngineConfig())
        var aloneTokens: [[Int32]] = []
        for (i, record) in records.enumerated() {
            let tokens = try alone.run(greedyRequest("m\(i)", ids: record.prompt_ids, maxTokens: record.n_predict)).samples[0].tokenIDs
            aloneTokens.append(tokens)
            // llama.cpp's choices must be ours wherever its top-2 margin is at least 0.25.
            let decisive = record.top5_per_step.firstIndex { $0[0][1] - $0[1][1] < 0.25 } ?? record.n_predict
            #expect(Array(tokens.prefix(decisive)) == Array(record.greedy_ids.prefix(decisive)), "record \(i) vs llama.cpp")
        }
        alone.shutdown()
        #expect(aloneTokens[0].count >= 13, "record 0 should generate past its 13 decisive steps")

        // The 4 records, each twice, plus prefixes of them as extra prompts: 12 concurrent
        // requests of 1–100 tokens. A small token budget chunks the 100-token prompt between
        // other requests' decode steps, so batches mix prefill and decode tokens.
        var requests: [Request] = []
        var expected: [[Int32]] = []
        for copy in 0..<2 {
            for (i, record) in records.enumerated() {
                requests.append(greedyRequest("c\(copy)-\(i)", ids: record.prompt_ids, maxTokens: record.n_predict))
                expected.append(aloneTokens[i])
            }
        }
        let alone2 = try Engine(loaded: loaded, config: EngineConfig())
        for (j, length) in [3, 5, 40, 60].enumerated() {
            let prompt = Array(records[2].prompt_ids.prefix(length))
            requests.append(greedyRequest("p\(j)", ids: prompt, maxTokens: 8))
            expected.append(try alone2.run(greedyRequest("p\(j)", ids: prompt, maxTokens: 8)).samples[0].tokenIDs)
        }
        alone2.shutdown()

        var config = EngineConfig()
        config.maxBatchedTokens = 32
        let batched = try Engine(loaded: loaded, config: config)
        let collectors = requests.map { _ in EventCollector() }
        for (request, collector) in zip(requests, collectors) {
            try batched.submit(request, onEvent: collector.handler)
        }
        for (i, collector) in collectors.enumerated() {
            let output = try #require(collector.wait())
            #expect(output.samples[0].tokenIDs == expected[i], "request \(requests[i].id) differs when batched")
        }
        batched.waitUntilIdle()
        #expect(batched.metrics().kv.usedBlocks == 0)
        #expect(batched.kvInvariantViolations().isEmpty)
        batched.shutdown()

        // Every routed token was counted: each layer's total is a multiple of the experts used.
        let load = try #require(loaded.expertLoad).snapshot()
        #expect(load.count == 3)
        #expect(load.allSatisfy { $0.reduce(0, +) > 0 && $0.reduce(0, +) % 2 == 0 }, "\(load)")
    }
}
