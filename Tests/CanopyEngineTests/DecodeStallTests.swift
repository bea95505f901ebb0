import CanopyKV
import CanopyKernels
import CanopyModel
import Foundation
import Testing

@testable import CanopyEngine

/// The step cost line and the prefill bound it gives (`EngineConfig.maxDecodeStall`): a
/// step carrying decodes runs only as many prompt tokens as keep it within the stall factor
/// of the decodes' own time, and what is generated does not depend on how prefill is cut.
@Suite("Decode stall bound")
struct DecodeStallTests {
    /// A machine whose steps take 10 ms plus 1 ms a token.
    static func recordLine(_ model: inout StepCostModel) {
        for tokens in [1, 8, 64, 256, 4, 512] {
            model.record(tokens: tokens, seconds: 0.010 + 0.001 * Double(tokens))
        }
    }

    @Test("the fitted line recovers a step's fixed part and per-token cost")
    func fitsLine() throws {
        var model = StepCostModel()
        #expect(model.seconds(tokens: 10) == nil)
        #expect(model.fixedTokens == 0)
        Self.recordLine(&model)
        let line = try #require(model.line)
        #expect(abs(line.fixed - 0.010) < 1e-9)
        #expect(abs(line.perToken - 0.001) < 1e-12)
        #expect(abs(model.fixedTokens - 10) < 1e-6)
        // 2.5 × (10 + 4) token-equivalents = 35 = 10 + T: T = 25.
        #expect((24...25).contains(model.stepTokenLimit(decodes: 4, stall: 2.5)))
        #expect(model.stepTokenLimit(decodes: 4, stall: 1) == 4)
    }

    @Test("one step size, a negative slope or a negative intercept give the line through the origin")
    func fallsBackToProportional() throws {
        var same = StepCostModel()
        for _ in 0..<5 { same.record(tokens: 32, seconds: 0.064) }
        #expect(same.fixedTokens == 0)
        #expect(abs(try #require(same.seconds(tokens: 10)) - 0.020) < 1e-12)
        #expect(same.stepTokenLimit(decodes: 8, stall: 3) == 24)

        var noisy = StepCostModel()  // bigger steps measured faster: noise, not a cost
        noisy.record(tokens: 1, seconds: 0.5)
        noisy.record(tokens: 100, seconds: 0.1)
        #expect(noisy.fixedTokens == 0)
        #expect(try #require(noisy.line).perToken > 0)

        var ignored = StepCostModel()
        ignored.record(tokens: 0, seconds: 1)
        ignored.record(tokens: 5, seconds: 0)
        ignored.record(tokens: 5, seconds: .nan)
        #expect(ignored.line == nil)
    }

    /// A scheduler over the default model's KV layout, its step cost already measured.
    static func scheduler(stall: Double, budget: Int = 512) throws -> (Scheduler, LoadedModel) {
        let loaded = try EngineFixtures.model()
        let c = loaded.config
        let layout = PagedKVLayout(
            blockSize: 16, layers: c.blockCount, kvHeads: c.headCountKV, headDimension: c.headDimension,
            precision: .f16)
        let kv = KVCacheManager(layout: layout, blockCount: 256, prefixCaching: false)
        let scheduler = Scheduler(
            kv: kv, maxBatchedTokens: budget, maxSequences: 16, contextLength: c.contextLength,
            speculativeStepTokens: 0, speculativeTokenCost: 0.3, drafter: nil, draftTokenCost: 0,
            maxDecodeStall: stall, costModel: PreemptionCostModel())
        recordLine(&scheduler.stepCost)
        return (scheduler, loaded)
    }

    /// Holds the requests of scheduled sequences (a sequence refers to its request unowned,
    /// as the engine's request table holds it).
    final class Requests {
        var held: [RequestState] = []

        func sequence(_ id: SequenceID, length: Int, loaded: LoadedModel) -> SequenceState {
            let ids = (0..<length).map { Int32(100 + ($0 * 7) % 500) }
            let request = RequestState(
                request: greedyRequest("r\(id)", ids: ids, maxTokens: 16), promptIDs: ids, maxTokens: 16,
                endTokens: [], sink: { _ in })
            held.append(request)
            return SequenceState(id: id, sample: 0, request: request, tokens: ids, tokenizer: loaded.tokenizer)
        }
    }

    /// Schedules one step and plays the engine's part: every chunk is computed, and a
    /// sequence that reached its last token gets one more. Returns (decodes, prompt tokens).
    @discardableResult
    static func step(_ scheduler: Scheduler) -> (decodes: Int, prefill: Int) {
        var chunks: [ScheduledChunk] = []
        scheduler.schedule(now: monotonicSeconds(), into: &chunks)
        var decodes = 0, prefill = 0
        for chunk in chunks {
            if chunk.count == 1, chunk.sequence.uncomputed == 1, chunk.sequence.computed > 0 {
                decodes += 1
            } else {
                prefill += chunk.count
            }
            chunk.sequence.computed += chunk.count
            if chunk.wantsLogits { chunk.sequence.tokens.append(42) }
        }
        return (decodes, prefill)
    }

    @Test("a prompt arriving beside decodes is cut to the stall bound, at least the minimum chunk")
    func prefillIsCut() throws {
        let (scheduler, loaded) = try Self.scheduler(stall: 2.5)
        let requests = Requests()
        for id in 0..<4 { scheduler.enqueue(requests.sequence(SequenceID(id), length: 20, loaded: loaded)) }
        let first = Self.step(scheduler)
        #expect(first.prefill == 80, "nothing decodes yet: the four prompts run whole")
        scheduler.enqueue(requests.sequence(9, length: 600, loaded: loaded))
        let limit = scheduler.prefillTokenLimit(decodes: 4)
        #expect(limit >= 20 && limit <= 21)
        let mixed = Self.step(scheduler)
        #expect(mixed.decodes == 4)
        #expect(mixed.prefill == limit)
        let cost = scheduler.stepCost
        let stepSeconds = try #require(cost.seconds(tokens: mixed.decodes + mixed.prefill))
        let decodeSeconds = try #require(cost.seconds(tokens: mixed.decodes))
        #expect(stepSeconds <= 2.5 * decodeSeconds * (1 + 1e-9))
        // The rest of the prompt follows in chunks of the same bound.
        var steps = 1, computed = mixed.prefill
        while computed < 600 {
            let next = Self.step(scheduler)
            #expect(next.prefill <= limit)
            computed += next.prefill
            steps += 1
        }
        #expect(steps >= 600 / limit)
    }

    @Test("a tight bound still runs the minimum chunk; no bound or no decodes fill the budget")
    func minimumAndOff() throws {
        let (tight, loaded) = try Self.scheduler(stall: 1)
        #expect(tight.prefillTokenLimit(decodes: 4) == Scheduler.minimumPrefillChunk)
        #expect(tight.prefillTokenLimit(decodes: 0) == 512)
        let (off, _) = try Self.scheduler(stall: 0)
        let requests = Requests()
        #expect(off.prefillTokenLimit(decodes: 4) == 512)
        for id in 0..<4 { off.enqueue(requests.sequence(SequenceID(id), length: 20, loaded: loaded)) }
        Self.step(off)
        off.enqueue(requests.sequence(9, length: 600, loaded: loaded))
        #expect(Self.step(off).prefill == 512 - 4)
    }

    @Test("greedy output is the same whether an arriving prompt is cut by the bound or not")
    func outputDoesNotDependOnTheBound() throws {
        func run(stall: Double) throws -> (tokens: [[Int32]], stepsToFirstToken: Int) {
            var config = EngineConfig()
            config.maxDecodeStall = stall
            let (core, _) = try EngineFixtures.core(config)
            let collectors = (0..<5).map { _ in EventCollector() }
            func add(_ i: Int, length: Int) {
                let ids = (0..<length).map { Int32(200 + ($0 * 13 + i * 31) % 900) }
                var request = greedyRequest("r\(i)", ids: ids, maxTokens: 24)
                request.stop.ignoreEndOfGeneration = true
                core.add(
                    RequestState(request: request, promptIDs: ids, maxTokens: 24, endTokens: [],
                                 sink: collectors[i].handler), key: UInt64(i))
            }
            for i in 0..<4 { add(i, length: 12) }
            for _ in 0..<3 { core.step() }
            add(4, length: 300)
            var steps = 0
            while !collectors[4].allEvents.contains(where: { if case .token = $0 { true } else { false } }) {
                core.step()
                steps += 1
            }
            while core.hasWork { core.step() }
            let tokens = try collectors.map { try #require($0.wait(timeout: 60)).samples[0].tokenIDs }
            return (tokens, steps)
        }
        let bounded = try run(stall: 1.5)
        let unbounded = try run(stall: 0)
        #expect(bounded.tokens == unbounded.tokens)
        #expect(unbounded.stepsToFirstToken == 1)
        #expect(bounded.stepsToFirstToken > 1, "300 prompt tokens beside 4 decodes at a stall of 1.5")
    }
}
