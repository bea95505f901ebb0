import CanopyEngine
import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

/// Speculative decoding changes speed, never output: the engine samples every position as
/// it would without speculation (same random draw), and keeps a proposal only when it equals
/// that token.
@Suite("Speculative decoding", .serialized)
struct SpeculativeDecodingTests {
    private func with(_ request: Request, speculativeTokens: Int) -> Request {
        var copy = request
        copy.speculativeTokens = speculativeTokens
        return copy
    }

    /// The llama.cpp fixture prompts, greedy, one at a time and all at once: speculation on
    /// gives the tokens speculation off gives, and it does speculate.
    @Test func greedyFixturesAreIdentical() throws {
        let loaded = try EngineFixtures.model()
        let records = try EngineFixtures.records()
        var config = EngineConfig()
        config.speculativeStepTokens = 256  // speculate at any batch size
        config.speculativeTokenCost = 0  // propose whatever the batch
        let engine = try Engine(loaded: loaded, config: config)
        defer { engine.shutdown() }
        // Each prompt, and each prompt twice over (text that repeats its input).
        var requests = records.enumerated().map { greedyRequest("r\($0)", ids: $1.prompt_ids, maxTokens: $1.n_predict) }
        requests += records.enumerated().map { greedyRequest("d\($0)", ids: $1.prompt_ids + $1.prompt_ids, maxTokens: 32) }
        var off: [[Int32]] = []
        for request in requests { off.append(try engine.run(with(request, speculativeTokens: 0)).samples[0].tokenIDs) }
        #expect(engine.metrics().speculation.proposedTokens == 0)
        for (i, request) in requests.enumerated() {
            let on = try engine.run(with(request, speculativeTokens: 8)).samples[0].tokenIDs
            #expect(on == off[i], "request \(i) differs with speculation, alone")
        }
        let batched = try engine.runAll(requests.map { with($0, speculativeTokens: 8) })
        for (i, output) in batched.enumerated() {
            #expect(output.samples[0].tokenIDs == off[i], "request \(i) differs with speculation, batched")
        }
        engine.waitUntilIdle()
        let stats = engine.metrics().speculation
        #expect(stats.acceptedTokens > 100, "\(stats)")
        #expect(engine.metrics().kv.usedBlocks == 0 && engine.kvInvariantViolations().isEmpty)
    }

    /// 32 concurrent requests mixing greedy and seeded sampling (temperature, top-k, top-p,
    /// min-p, penalties), log-probabilities, stop strings and n = 2: every sample's tokens,
    /// text, finish reason and log-probabilities are the same with speculation on.
    @Test func mixedBatchIsIdentical() throws {
        let loaded = try EngineFixtures.model()
        let records = try EngineFixtures.records()
        var config = EngineConfig()
        config.speculativeStepTokens = 512
        config.speculativeTokenCost = 0  // propose whatever the batch
        let engine = try Engine(loaded: loaded, config: config)
        defer { engine.shutdown() }
        var requests: [Request] = []
        for i in 0..<32 {
            let record = records[i % records.count]
            let ids = i % 3 == 0 ? record.prompt_ids : record.prompt_ids + record.prompt_ids
            var request = Request(id: "m\(i)", prompt: .tokenIDs(ids))
            request.stop.maxTokens = 24
            request.sampling.seed = UInt64(1000 + i)
            switch i % 6 {
            case 0: request.sampling.temperature = 0
            case 1: request.sampling.temperature = 0.8; request.sampling.topP = 0.9
            case 2: request.sampling.temperature = 0.7; request.sampling.repetitionPenalty = 1.1
                request.sampling.frequencyPenalty = 0.2; request.sampling.presencePenalty = 0.1
            case 3: request.sampling.topK = 20; request.sampling.minP = 0.05; request.sampling.logprobs = 2
            case 4: request.sampling.temperature = 0; request.stop.stopStrings = ["."]
            default: request.sampling.n = 2; request.sampling.temperature = 0.9
            }
            requests.append(request)
        }
        let off = try engine.runAll(requests.map { with($0, speculativeTokens: 0) })
        let on = try engine.runAll(requests.map { with($0, speculativeTokens: 8) })
        for i in requests.indices {
            #expect(on[i].samples.count == off[i].samples.count)
            for (a, b) in zip(on[i].samples, off[i].samples) {
                #expect(a.tokenIDs == b.tokenIDs && a.text == b.text && a.finishReason == b.finishReason,
                        "request \(i) differs with speculation")
                #expect(a.logprobs == b.logprobs, "request \(i): log-probabilities differ")
            }
        }
        engine.waitUntilIdle()
        #expect(engine.metrics().speculation.acceptedTokens > 0)
        #expect(engine.metrics().kv.usedBlocks == 0 && engine.kvInvariantViolations().isEmpty)
    }

    /// APAR branches speculate too: the trained fork fixture decodes the same tree (every
    /// branch's tokens and text) with speculation off and on, and the reference's main branch.
    @Test func aparBranchesSpeculate() throws {
        let reference = try AparTinyEngineTests.reference()
        let engine = try AparTinyEngineTests.engine()
        defer { engine.shutdown() }
        let request = greedyRequest("fork", ids: reference.fork.prompt, maxTokens: 120)
        let off = try engine.run(with(request, speculativeTokens: 0)).samples[0]
        #expect(engine.metrics().speculation.proposedTokens == 0)
        let on = try engine.run(with(request, speculativeTokens: 8)).samples[0]
        #expect(on.branches.count == 1 + reference.fork.children.count)
        #expect(on.branches.map(\.tokenIDs) == off.branches.map(\.tokenIDs))
        #expect(on.branches.map(\.text) == off.branches.map(\.text) && on.text == off.text)
        #expect(on.tokenIDs == reference.fork.main)
        engine.waitUntilIdle()
        #expect(engine.metrics().speculation.acceptedTokens > 0, "\(engine.metrics().speculation)")
        #expect(engine.metrics().kv.usedBlocks == 0 && engine.kvInvariantViolations().isEmpty)
    }
}
