import CanopyEngine
import CanopyKernels
import CanopyModel
import Foundation
import Testing

/// Sampled output under speculation is distributed as the target: on the tiny model
/// (258-token vocabulary), thousands of seeded requests with temperature, top-p and
/// penalties. Every generated token after the first (those a speculative verification
/// decides: the token that replaces or follows a proposal, or one drawn from a proposal's
/// logits), grouped by the tokens before it, against the target distribution computed
/// independently (the model's logits for that context, the sampling chain in float64).
/// Pearson's chi-square over all groups and positions, at significance 0.001. For n-gram
/// proposals (point masses, verified by comparison) and for a draft model's sampled
/// proposals (judged by the min(1, p/q) rule with the residual draw).
@Suite("Speculative sampling distribution")
struct SpeculativeSamplingTests {
    @Test func ngramSampledTokensMatchTheTarget() throws {
        try checkDistribution(draft: nil, runs: 4000)
    }

    /// The draft is the target with noise on every weight: it agrees often, not always, so
    /// both the acceptance test and the residual draw decide many tokens (about 58% of
    /// proposals are kept). More runs than for n-gram proposals: a residual drawn from p
    /// without the proposal instead of max(0, p − q) gave z ≈ 3.5 at 4000 runs, and z ≈ 7.4
    /// at 16000 (the correct rule: z between 0.6 and 2 over three runs).
    @Test func draftSampledTokensMatchTheTarget() throws {
        try checkDistribution(draft: TinyModel.load(seed: 1, noise: 0.1), runs: 16000)
    }

    private func checkDistribution(draft: LoadedModel?, runs: Int) throws {
        let loaded = try TinyModel.load()
        var config = EngineConfig()
        config.speculativeStepTokens = 4096  // speculate at any batch size
        config.speculativeTokenCost = 0  // propose whatever the batch
        config.speculativeDraftCost = 0
        config.speculative = draft == nil ? .ngram : .draft
        config.maxSequences = 64
        let engine = try Engine(loaded: loaded, draft: draft, config: config)
        defer { engine.shutdown() }

        // A prompt the model continues predictably: its own greedy continuation of a phrase,
        // so n-gram proposals are often right and verification often goes past a proposal.
        let phrase = Array("the cat sat on the mat".utf8).map { Int32($0) }
        let greedy = try engine.run(greedyRequest("g", ids: phrase, maxTokens: 48)).samples[0].tokenIDs
        let prompt = phrase + greedy
        var sampling = SamplingParams()
        sampling.temperature = 0.7
        sampling.topP = 0.9
        sampling.repetitionPenalty = 1.05
        sampling.frequencyPenalty = 0.05
        sampling.presencePenalty = 0.1

        let length = 4
        var outputs: [[Int32]] = []
        // In waves of `maxSequences`: the engine proposes nothing while requests wait.
        for wave in stride(from: 0, to: runs, by: config.maxSequences) {
            let collectors = (wave..<min(runs, wave + config.maxSequences)).map { _ in EventCollector() }
            for (j, collector) in collectors.enumerated() {
                var request = Request(id: "c\(wave + j)", prompt: .tokenIDs(prompt), sampling: sampling)
                request.sampling.seed = UInt64(wave + j + 1)
                request.stop.maxTokens = length
                request.stop.ignoreEndOfGeneration = true
                request.speculativeTokens = 4
                try engine.submit(request, onEvent: collector.handler)
            }
            for collector in collectors {
                let tokens = try #require(collector.wait()).samples[0].tokenIDs
                try #require(tokens.count == length)
                outputs.append(tokens)
            }
        }
        engine.waitUntilIdle()
        let stats = engine.metrics().speculation
        #expect(stats.acceptedTokens >= runs / 20, "too little speculation to test: \(stats)")
        if draft != nil {
            #expect(stats.proposedTokens - stats.acceptedTokens >= runs / 20, "too few rejections to test: \(stats)")
        }

        var statistic = 0.0
        var freedom = 0
        var outsideSupport = 0
        var tested = 0
        for position in 1..<length {
            var groups: [[Int32]: [Int32]] = [:]
            for tokens in outputs { groups[Array(tokens[0..<position]), default: []].append(tokens[position]) }
            for (prefix, outcomes) in groups where outcomes.count >= 50 {
                let target = try Self.targetDistribution(
                    loaded: loaded, prompt: prompt, generated: prefix, sampling: sampling, kvPrecision: config.kvPrecision)
                var observed = [Int](repeating: 0, count: target.count)
                for token in outcomes { observed[Int(token)] += 1 }
                outsideSupport += zip(observed, target).reduce(0) { $0 + ($1.1 == 0 ? $1.0 : 0) }
                let (x, cells) = Self.pearson(observed: observed, expected: target.map { $0 * Double(outcomes.count) })
                statistic += x
                freedom += cells - 1
                tested += outcomes.count
            }
        }
        #expect(tested >= runs * (length - 1) / 2, "only \(tested) tokens fell in groups large enough to test")
        #expect(outsideSupport <= runs / 1000, "\(outsideSupport) tokens sampled outside the target's support")
        let z = Self.wilsonHilferty(statistic, freedom: freedom)
        #expect(freedom > 0 && z < 3.09, "chi-square \(statistic) with \(freedom) degrees of freedom: z = \(z) (p < 0.001)")
    }

    /// The sampling chain in float64, written from its definition: repetition penalty on
    /// every token seen (prompt or generated), frequency and presence penalties on generated
    /// ones, softmax at the temperature, then the smallest most-likely-first set reaching
    /// `topP` of the mass (ties broken by lower id), renormalised.
    static func targetDistribution(
        loaded: LoadedModel, prompt: [Int32], generated: [Int32], sampling: SamplingParams, kvPrecision: KVPrecision
    ) throws -> [Double] {
        let context = prompt + generated
        let cache = SingleSequenceCache(config: loaded.config, capacity: context.count, precision: kvPrecision)
        var batch = ForwardBatch()
        cache.append(context, at: 0, to: &batch, wantsLogits: true)
        var logits = try loaded.model.forward(batch, kv: cache.storage).map(Double.init)
        let penalty = Double(sampling.repetitionPenalty)
        for token in Set(context) {
            let i = Int(token)
            logits[i] = logits[i] > 0 ? logits[i] / penalty : logits[i] * penalty
        }
        var counts: [Int32: Int] = [:]
        for token in generated { counts[token, default: 0] += 1 }
        for (token, count) in counts {
            logits[Int(token)] -= Double(sampling.frequencyPenalty) * Double(count) + Double(sampling.presencePenalty)
        }
        let top = logits.max()!
        let weights = logits.map { exp(($0 - top) / Double(sampling.temperature)) }
        let total = weights.reduce(0, +)
        let order = weights.indices.sorted { weights[$0] > weights[$1] || (weights[$0] == weights[$1] && $0 < $1) }
        var kept: [Int] = []
        var mass = 0.0
        for i in order {
            kept.append(i)
            mass += weights[i]
            if mass >= Double(sampling.topP) * total { break }
        }
        var probabilities = [Double](repeating: 0, count: weights.count)
        for i in kept { probabilities[i] = weights[i] / mass }
        return probabilities
    }

    /// Pearson's statistic over cells of expected count at least 5; the rest are pooled
    /// into one cell (merged into the smallest kept one when the pool is itself under 5).
    /// Returns the statistic and the number of cells.
    static func pearson(observed: [Int], expected: [Double]) -> (Double, Int) {
        var cells: [(o: Double, e: Double)] = []
        var pool = (o: 0.0, e: 0.0)
        for i in expected.indices.sorted(by: { expected[$0] > expected[$1] }) where expected[i] > 0 {
            if expected[i] >= 5 { cells.append((Double(observed[i]), expected[i])) } else {
                pool.o += Double(observed[i])
                pool.e += expected[i]
            }
        }
        if pool.e >= 5 || cells.isEmpty {
            cells.append(pool)
        } else if pool.e > 0 {
            cells[cells.count - 1].o += pool.o
            cells[cells.count - 1].e += pool.e
        }
        let statistic = cells.reduce(0) { $0 + ($1.o - $1.e) * ($1.o - $1.e) / $1.e }
        return (statistic, cells.count)
    }

    /// The chi-square statistic's standard-normal equivalent (Wilson and Hilferty's cube-root
    /// approximation): above 3.09 means p < 0.001.
    static func wilsonHilferty(_ statistic: Double, freedom: Int) -> Double {
        let k = Double(max(freedom, 1))
        return (pow(statistic / k, 1.0 / 3) - (1 - 2 / (9 * k))) / (2 / (9 * k)).squareRoot()
    }
}
