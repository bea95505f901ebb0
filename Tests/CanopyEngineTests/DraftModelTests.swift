import CanopyEngine
import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

/// Draft-model speculation (`speculative = draft`): a draft equal to the model agrees with it
/// everywhere, so every proposal is accepted (greedy: the draft's argmax is the model's;
/// sampled without penalties: its distribution is the model's, so min(1, p/q) = 1); greedy
/// output is the output without speculation; a draft with another vocabulary is refused.
@Suite("Draft model", .serialized)
struct DraftModelTests {
    private func speculating(_ request: Request, _ tokens: Int) -> Request {
        var copy = request
        copy.speculativeTokens = tokens
        return copy
    }

    private func draftConfig() -> EngineConfig {
        var config = EngineConfig()
        config.speculative = .draft
        config.speculativeStepTokens = 256  // speculate at any batch size
        config.speculativeTokenCost = 0  // propose whatever the batch
        config.speculativeDraftCost = 0
        return config
    }

    /// The llama.cpp fixture prompts with the default model as its own draft, one at a time
    /// and all at once: the tokens are those without speculation, and the model accepts
    /// every greedy proposal.
    @Test func draftEqualToTheModelAcceptsEveryGreedyProposal() throws {
        let loaded = try EngineFixtures.model()
        let records = try EngineFixtures.records()
        let engine = try Engine(loaded: loaded, draft: loaded, config: draftConfig())
        defer { engine.shutdown() }
        let requests = records.enumerated().map { greedyRequest("r\($0)", ids: $1.prompt_ids, maxTokens: $1.n_predict) }
        var off: [[Int32]] = []
        for request in requests { off.append(try engine.run(speculating(request, 0)).samples[0].tokenIDs) }
        #expect(engine.metrics().speculation.proposedTokens == 0)
        for (i, request) in requests.enumerated() {
            #expect(try engine.run(speculating(request, 6)).samples[0].tokenIDs == off[i], "request \(i), alone")
        }
        for (i, output) in try engine.runAll(requests.map { speculating($0, 6) }).enumerated() {
            #expect(output.samples[0].tokenIDs == off[i], "request \(i), batched")
        }
        engine.waitUntilIdle()
        let stats = engine.metrics().speculation
        #expect(stats.proposedTokens > 100 && stats.acceptedTokens == stats.proposedTokens, "\(stats)")
        #expect(engine.metrics().kv.usedBlocks == 0)
        #expect(engine.kvInvariantViolations().isEmpty, "\(engine.kvInvariantViolations())")
    }

    /// Sampled requests (temperature, top-p, top-k, min-p; no penalties, which would see
    /// the proposals' history differently) with the model as its own draft: the draft's
    /// distribution is the model's, so the lossless rule keeps every proposal.
    @Test func draftEqualToTheModelAcceptsEverySampledProposal() throws {
        let loaded = try TinyModel.load()
        let engine = try Engine(loaded: loaded, draft: loaded, config: draftConfig())
        defer { engine.shutdown() }
        let prompt = Array("the cat sat on the mat".utf8).map { Int32($0) }
        var requests: [Request] = []
        for i in 0..<24 {
            var request = Request(id: "s\(i)", prompt: .tokenIDs(prompt))
            request.stop.maxTokens = 32
            request.stop.ignoreEndOfGeneration = true
            request.sampling.seed = UInt64(i + 1)
            request.sampling.temperature = [0.7, 1.0, 1.3][i % 3]
            request.sampling.topP = i % 2 == 0 ? 0.9 : 1
            request.sampling.topK = i % 4 == 1 ? 20 : 0
            request.sampling.minP = i % 4 == 3 ? 0.02 : 0
            requests.append(speculating(request, 4))
        }
        let outputs = try engine.runAll(requests)
        #expect(outputs.allSatisfy { $0.samples[0].tokenIDs.count == 32 })
        engine.waitUntilIdle()
        let stats = engine.metrics().speculation
        #expect(stats.proposedTokens > 200 && stats.acceptedTokens == stats.proposedTokens, "\(stats)")
        #expect(engine.kvInvariantViolations().isEmpty, "\(engine.kvInvariantViolations())")
    }

    /// A draft whose vocabulary differs is refused before anything runs, with a message
    /// naming the difference; so is `speculative = draft` without a draft, and a draft with
    /// `speculative = ngram`.
    @Test func mismatchedVocabularyIsRefused() throws {
        let loaded = try TinyModel.load()
        let renamed = try TinyModel.load(renaming: (id: 256, text: "Ġa"))
        #expect {
            try Engine(loaded: loaded, draft: renamed, config: draftConfig())
        } throws: { error in
            "\(error)".contains("token 256") && "\(error)".contains("\"Ġa\" in the draft")
                && "\(error)".contains("tokenizer")
        }
        let other = try EngineFixtures.model()
        #expect {
            try Engine(loaded: loaded, draft: other, config: draftConfig())
        } throws: { error in
            "\(error)".contains("has \(other.tokenizer.vocabulary.tokens.count) tokens")
                && "\(error)".contains("the model's 258")
        }
        #expect {
            try Engine(loaded: loaded, config: draftConfig())
        } throws: { error in "\(error)".contains("--draft-model") }
        var ngram = draftConfig()
        ngram.speculative = .ngram
        #expect {
            try Engine(loaded: loaded, draft: loaded, config: ngram)
        } throws: { error in "\(error)".contains("ngram") }
    }
}
