import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

@testable import CanopyEngine

/// Real forks through the engine: the trained APAR fixture (`Tests/Fixtures/apar-tiny`) forks
/// by itself, and the engine must decode its main branch and every child exactly as the
/// script's independent float64 reference decodes them greedily (`reference.json`'s `fork`;
/// the smallest top-1/top-2 logit gap there, 10.25, is far above f32 rounding).
@Suite(.serialized) struct AparTinyEngineTests {
    struct Reference: Decodable {
        struct Child: Decodable {
            let context: [Int32]
            let greedy: [Int32]
        }
        struct Fork: Decodable {
            let prompt: [Int32]
            let main: [Int32]
            let children: [Child]
        }
        struct Tokens: Decodable {
            let split_mask: Int32
            let split_sop: Int32
            let eos: Int32
        }
        let tokens: Tokens
        let fork: Fork
    }

    static func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: FixturePaths.url("apar-tiny/reference.json")))
    }

    static func engine(blockSize: Int = 16) throws -> Engine {
        let loaded = try LoadedModel(path: FixturePaths.url("apar-tiny/apar-tiny.gguf").path, precision: .float32)
        var config = EngineConfig()
        config.kvPrecision = .f32
        config.blockSize = blockSize
        config.kvCacheMemory = 4 << 20
        return try Engine(loaded: loaded, config: config)
    }

    @Test func theModelForksThroughTheEngineAsTheReferenceDecodes() throws {
        let reference = try Self.reference()
        let engine = try Self.engine()
        let apar = try #require(engine.aparTokens, "the tokens are found by their text")
        #expect(apar == AparTokens(fork: reference.tokens.split_mask, child: reference.tokens.split_sop))
        let collector = EventCollector()
        try engine.submit(greedyRequest("fork", ids: reference.fork.prompt, maxTokens: 120), onEvent: collector.handler)
        let output = try #require(collector.wait())
        let sample = try #require(output.samples.first)
        let branches = sample.branches
        try #require(branches.count == 1 + reference.fork.children.count)
        #expect(branches[0].tokenIDs == reference.fork.main && sample.tokenIDs == reference.fork.main)
        for (index, child) in reference.fork.children.enumerated() {
            let branch = branches[index + 1]
            #expect(branch.parent == 0)
            #expect(branch.tokenIDs == [apar.child] + child.greedy, "child \(index + 1)")
            // Its context is the prompt, the root's tokens through its fork token, the child token.
            #expect(reference.fork.prompt + reference.fork.main.prefix(through: forkPosition(index, in: reference)) + [apar.child]
                    == child.context)
        }
        #expect(branches.allSatisfy { $0.finishReason == .stop })
        // The answer: each item, its detail, then the next item; control and end tokens left out.
        let tokenizer = try LoadedModel(path: FixturePaths.url("apar-tiny/apar-tiny.gguf").path).tokenizer
        var expected = ""
        var item: [Int32] = []
        var child = 0
        for token in reference.fork.main {
            if token == apar.fork {
                expected += tokenizer.decode(item)
                item = []
                expected += tokenizer.decode(reference.fork.children[child].greedy.filter { $0 != reference.tokens.eos })
                child += 1
            } else if token != reference.tokens.eos {
                item.append(token)
            }
        }
        expected += tokenizer.decode(item)
        #expect(sample.text == expected)
        // Events: every token of every branch, tagged with its branch and parent.
        let deltas = collector.allEvents.compactMap { event -> TokenOutput? in
            if case .token(let token) = event { return token }
            return nil
        }
        for branch in branches {
            #expect(deltas.filter { $0.branch == branch.id }.map(\.token.id) == branch.tokenIDs)
            #expect(deltas.filter { $0.branch == branch.id }.allSatisfy { $0.parentBranch == branch.parent })
        }
        #expect(engine.kvInvariantViolations().isEmpty)
        let metrics = engine.metrics()
        #expect(metrics.kv.usedBlocks == 0 && metrics.forks == reference.fork.children.count)
        #expect(output.metrics.branches == branches.count)
        #expect(output.metrics.generatedTokens == branches.reduce(0) { $0 + $1.tokenIDs.count })
    }

    @Test func aparOffDecodesOneBranch() throws {
        let reference = try Self.reference()
        let engine = try Self.engine()
        var request = greedyRequest("plain", ids: reference.fork.prompt, maxTokens: 100)
        request.parallel.enabled = false
        let output = try engine.run(request)
        #expect(output.samples[0].branches.isEmpty && output.samples[0].tokenIDs == reference.fork.main)
        #expect(engine.metrics().forks == 0)
    }

    /// The position in the main branch of the fork token of child `index`.
    private func forkPosition(_ index: Int, in reference: Reference) -> Int {
        reference.fork.main.indices.filter { reference.fork.main[$0] == reference.tokens.split_mask }[index]
    }
}
