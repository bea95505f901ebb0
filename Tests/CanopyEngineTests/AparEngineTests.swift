import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

@testable import CanopyEngine

/// APAR forking in the engine (issue 14): forced forks on SmolLM2, whose vocabulary has no
/// APAR tokens, so two of its unused special tokens stand in for `[SplitMask]`/`[SplitSop]`.
/// Each branch must decode exactly what plain greedy decoding of its own context gives.
@Suite(.serialized) struct AparEngineTests {
    static let forkText = "<file_sep>"
    static let childText = "<filename>"

    static func engine(kvBlocks: Int? = nil) throws -> Engine {
        var config = EngineConfig()
        config.aparForkToken = forkText
        config.aparChildToken = childText
        if let kvBlocks {
            let loaded = try EngineFixtures.model()
            let layout = PagedKVLayout(
                blockSize: config.blockSize, layers: loaded.config.blockCount, kvHeads: loaded.config.headCountKV,
                headDimension: loaded.config.headDimension, precision: config.kvPrecision)
            config.kvCacheMemory = kvBlocks * layout.blockBytes
        }
        return try Engine(loaded: try EngineFixtures.model(), config: config)
    }

    /// Every branch's full token list (prompt, the ancestors' tokens up to its fork, its own).
    static func contexts(prompt: [Int32], branches: [BranchOutput], fork: Int32) -> [Int: [Int32]] {
        var full: [Int: [Int32]] = [0: prompt + branches[0].tokenIDs]
        for branch in branches.dropFirst() {
            let parent = try! #require(branches.first { $0.id == branch.parent })
            let parentFull = full[parent.id]!
            let forkIndex = try! #require(parent.forks.firstIndex { $0.child == branch.id })
            // The k-th fork token of the parent's own tokens is this child's fork point.
            let forkPositions = parentFull.indices.filter { $0 >= parentFull.count - parent.tokenIDs.count && parentFull[$0] == fork }
            full[branch.id] = Array(parentFull[...forkPositions[forkIndex]]) + branch.tokenIDs
        }
        return full
    }

    @Test func forcedForksDecodeEachBranchAsPlainGreedyDecodingOfItsContext() throws {
        let engine = try Self.engine()
        let apar = try #require(engine.aparTokens)
        // The root forks after 3 and 8 tokens of its own, each child after 4 (its child
        // token counted); grandchildren are too deep to fork (max depth 2 allows them, but
        // not their children).
        engine.setForkSchedule { branch, generated in
            branch == 0 ? (generated == 3 || generated == 8) : generated == 4
        }
        let prompt = try EngineFixtures.records()[0].prompt_ids
        var request = greedyRequest("apar", ids: prompt, maxTokens: 60)
        request.stop.ignoreEndOfGeneration = true
        let output = try engine.run(request)
        let sample = try #require(output.samples.first)
        let branches = sample.branches
        // Root, its 2 children, each child's child; grandchildren may not fork (depth 2).
        #expect(branches.count == 5)
        #expect(branches.map(\.id) == Array(0..<branches.count))
        #expect(sample.tokenIDs == branches[0].tokenIDs)
        #expect(branches.reduce(0) { $0 + $1.tokenIDs.count } <= 60)
        let full = Self.contexts(prompt: prompt, branches: branches, fork: apar.fork)
        engine.setForkSchedule(nil)
        for branch in branches {
            let tokens = try #require(full[branch.id])
            #expect(branch.parent == nil || branch.tokenIDs.first == apar.child)
            // Each run of sampled tokens (between control tokens) is plain greedy decoding.
            var start = tokens.count - branch.tokenIDs.count
            while start < tokens.count {
                while start < tokens.count && apar.isControl(tokens[start]) { start += 1 }
                var end = start
                while end < tokens.count && !apar.isControl(tokens[end]) { end += 1 }
                guard end > start else { break }
                var plain = greedyRequest("plain", ids: Array(tokens[..<start]), maxTokens: end - start)
                plain.stop.ignoreEndOfGeneration = true
                plain.parallel.enabled = false
                let reference = try engine.run(plain).samples[0].tokenIDs
                #expect(Array(tokens[start..<end]) == reference, "branch \(branch.id) tokens \(start)..<\(end)")
                start = end
            }
            // Control tokens never follow each other.
            for i in tokens.indices.dropFirst() where apar.isControl(tokens[i]) {
                #expect(!(apar.isControl(tokens[i - 1]) && tokens[i] == apar.fork), "branch \(branch.id) at \(i)")
            }
        }
        #expect(engine.kvInvariantViolations().isEmpty)
        #expect(engine.metrics().kv.usedBlocks == 0)
        #expect(engine.metrics().forks == 4)
    }

    @Test func theAssembledAnswerPutsEachDetailAfterItsItem() {
        let root = BranchOutput(
            id: 0, parent: nil, tokenIDs: [], text: "1. a\n2. b\n", finishReason: .stop,
            forks: [.init(textOffset: 4, child: 1), .init(textOffset: 9, child: 2)])
        let first = BranchOutput(id: 1, parent: 0, tokenIDs: [], text: " (A", finishReason: .stop,
                                 forks: [.init(textOffset: 3, child: 3)])
        let second = BranchOutput(id: 2, parent: 0, tokenIDs: [], text: " (B)", finishReason: .stop, forks: [])
        let nested = BranchOutput(id: 3, parent: 1, tokenIDs: [], text: "!)", finishReason: .stop, forks: [])
        #expect(AnswerAssembler.assemble([root, first, second, nested]) == "1. a (A!)\n2. b (B)\n")
    }

    /// Random fork schedules, cancels and a KV arena small enough to preempt: every request
    /// ends, the token budget holds over all branches, and no block leaks.
    @Test func randomForksCancelsAndPreemptionsLeakNothing() throws {
        let engine = try Self.engine(kvBlocks: 16)
        var generator = SystemRandomNumberGenerator()
        let seed = UInt64.random(in: 0...UInt64.max, using: &generator)
        let schedule = ForkDice(seed: seed)
        engine.setForkSchedule { _, generated in schedule.roll(generated) }
        let prompts = try EngineFixtures.records().prefix(6).map(\.prompt_ids)
        var collectors: [(EventCollector, Engine.RequestKey, Int)] = []
        for (index, prompt) in prompts.enumerated() {
            var request = greedyRequest("r\(index)", ids: Array(prompt.prefix(40)), maxTokens: 30 + index * 5)
            request.stop.ignoreEndOfGeneration = true
            request.parallel.maxBranches = 1 + index
            let collector = EventCollector()
            collectors.append((collector, try engine.submit(request, onEvent: collector.handler), request.stop.maxTokens!))
        }
        engine.cancel(collectors[1].1)
        for (collector, _, maxTokens) in collectors {
            let output = try #require(collector.wait(), "seed \(seed)")
            for sample in output.samples {
                let total = sample.branches.isEmpty ? sample.tokenIDs.count : sample.branches.reduce(0) { $0 + $1.tokenIDs.count }
                #expect(total <= maxTokens, "seed \(seed), request \(output.id): branches \(sample.branches.map { ($0.id, $0.parent ?? -1, $0.tokenIDs.count, $0.finishReason) })")
            }
        }
        #expect(engine.kvInvariantViolations().isEmpty, "seed \(seed)")
        let metrics = engine.metrics()
        #expect(metrics.kv.usedBlocks == 0, "seed \(seed)")
        // The workload did what it is meant to exercise.
        #expect(metrics.forks > 0 && metrics.preemptions > 0, "seed \(seed): \(metrics.forks) forks, \(metrics.preemptions) preemptions")
    }
}

/// A seeded coin for fork schedules, shared by the engine thread and the test.
final class ForkDice: @unchecked Sendable {
    private let lock = NSLock()
    private var state: UInt64

    init(seed: UInt64) { state = seed | 1 }

    /// True about one time in five, never for a branch's first two tokens.
    func roll(_ generated: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return generated >= 2 && state % 5 == 0
    }
}
