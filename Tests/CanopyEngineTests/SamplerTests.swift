import Foundation
import CanopyEngine
import Testing

@Suite("Sampler")
struct SamplerTests {
    func draw(_ params: SamplingParams, _ logits: [Float], times: Int = 1) -> [Int32] {
        var sampler = Sampler(params: params)
        return (0..<times).map { _ in logits.withUnsafeBufferPointer { sampler.sample($0.baseAddress!, count: $0.count).id } }
    }

    @Test func greedyTakesTheLowestIdAmongTies() {
        var p = SamplingParams()
        p.temperature = 0
        #expect(draw(p, [0.5, 2, 1, 2]) == [1])
    }

    /// APAR's control-token rules: excluded tokens are never chosen, greedy or sampled.
    @Test func excludedTokensAreNeverChosen() {
        let logits: [Float] = [0, 5, 3, 1]
        func pick(_ p: SamplingParams, _ excluded: ExcludedTokens, times: Int = 1) -> [Int32] {
            var sampler = Sampler(params: p)
            var workspace = SamplingWorkspace()
            return (0..<times).map { _ in
                logits.withUnsafeBufferPointer {
                    sampler.sample($0.baseAddress!, count: $0.count, history: nil, excluding: excluded, workspace: &workspace).id
                }
            }
        }
        var greedy = SamplingParams()
        greedy.temperature = 0
        #expect(pick(greedy, .none) == [1])
        #expect(pick(greedy, ExcludedTokens(1)) == [2])
        #expect(pick(greedy, ExcludedTokens(1, 2)) == [3])
        var sampled = SamplingParams()
        sampled.seed = 3
        sampled.temperature = 2
        let draws = pick(sampled, ExcludedTokens(1, 2), times: 500)
        #expect(!draws.contains(1) && !draws.contains(2) && Set(draws) == [0, 3])
    }

    @Test func topKOneIsGreedy() {
        var p = SamplingParams()
        p.topK = 1
        p.seed = 7
        #expect(draw(p, [0.1, 0.3, 3, 0.2], times: 20).allSatisfy { $0 == 2 })
    }

    @Test func sameSeedSameTokens() {
        var p = SamplingParams()
        p.seed = 1234
        let logits: [Float] = (0..<100).map { Float($0 % 7) * 0.3 }
        #expect(draw(p, logits, times: 50) == draw(p, logits, times: 50))
        p.seed = 1235
        var other = p
        other.seed = 1234
        #expect(draw(p, logits, times: 50) != draw(other, logits, times: 50))
    }

    @Test func topPKeepsOnlyTheNucleus() {
        var p = SamplingParams()
        p.seed = 3
        p.topP = 0.5
        // Token 0 alone has probability ≈ 0.84: the nucleus is {0}.
        #expect(draw(p, [4, 2, 1, 0], times: 200).allSatisfy { $0 == 0 })
    }

    @Test func minPDropsUnlikelyTokens() {
        var p = SamplingParams()
        p.seed = 5
        p.minP = 0.2
        // exp(-2) ≈ 0.135 < 0.2 relative to the top token: only tokens 0 and 1 survive.
        let drawn = Set(draw(p, [2, 1.5, 0, -5], times: 400))
        #expect(drawn == [0, 1])
    }

    @Test func temperatureSamplingFollowsTheDistribution() {
        var p = SamplingParams()
        p.seed = 11
        // Probabilities 0.5, 0.25, 0.25 at temperature 1.
        let logits: [Float] = [logf(2), 0, 0]
        let drawn = draw(p, logits, times: 20_000)
        let share = Double(drawn.filter { $0 == 0 }.count) / Double(drawn.count)
        #expect(abs(share - 0.5) < 0.02, "share of token 0: \(share)")
    }

    /// The sampler ranks only the tokens it needs; its draws must be those of the whole chain
    /// done the plain way (float64, every token sorted, then top-k, softmax, top-p, min-p and
    /// an inverse-CDF walk with the same uniform number), over flat and peaked distributions
    /// where the nucleus reaches deep into the vocabulary or stops at its first token.
    @Test func drawsEqualAFullSortReference() {
        func reference(_ logits: [Float], _ p: SamplingParams, _ u: Float) -> Int32 {
            let nucleus = Self.referenceNucleus(logits.map(Double.init), p)
            var target = Double(u) * nucleus.reduce(0) { $0 + $1.weight }
            for candidate in nucleus {
                target -= candidate.weight
                if target < 0 { return Int32(candidate.id) }
            }
            return Int32(nucleus[nucleus.count - 1].id)
        }
        var gaussian = RandomStream(seed: 99)
        func normal() -> Float {
            let a = max(gaussian.nextUnitFloat(), 1e-7), b = gaussian.nextUnitFloat()
            return sqrtf(-2 * logf(a)) * cosf(2 * .pi * b)
        }
        var draws = 0, mismatches = 0
        for (scale, temperature) in [(Float(0.3), Float(1.5)), (2, 1), (8, 0.7)] {
            let logits = (0..<3000).map { _ in normal() * scale }
            for (topK, topP, minP) in [(0, Float(1), Float(0)), (0, 0.9, 0), (0, 0.5, 0.01), (0, 1, 0.05), (40, 0.95, 0)] {
                var p = SamplingParams()
                p.seed = UInt64(draws + 1)
                p.temperature = temperature
                (p.topK, p.topP, p.minP) = (topK, topP, minP)
                var uniforms = RandomStream(seed: p.seed!)
                for id in draw(p, logits, times: 40) {
                    draws += 1
                    if id != reference(logits, p, uniforms.nextUnitFloat()) { mismatches += 1 }
                }
            }
        }
        // float32 against float64 sums may move a draw that lands within rounding of a
        // boundary; a ranking or cut error moves most of them.
        #expect(mismatches * 100 <= draws, "\(mismatches) of \(draws) draws differ from the reference")
    }

    /// The distribution `Sampler.distribution` reports is the chain written out in float64
    /// (penalties on a history, an excluded token, temperature, top-k, top-p, min-p), and
    /// greedy is a point mass on the argmax; draws from `sample` stay in its support.
    @Test func distributionIsTheReferenceChain() {
        func reference(_ raw: [Float], _ p: SamplingParams, _ history: TokenHistory, excluded: Int) -> [Double] {
            var logits = raw.map(Double.init)
            let seen = history.promptTokens.union(history.generatedCounts.keys)
            for t in seen {
                let i = Int(t)
                logits[i] = logits[i] > 0 ? logits[i] / Double(p.repetitionPenalty) : logits[i] * Double(p.repetitionPenalty)
            }
            for (t, n) in history.generatedCounts {
                logits[Int(t)] -= Double(p.frequencyPenalty) * Double(n) + Double(p.presencePenalty)
            }
            logits[excluded] = -.infinity
            let nucleus = Self.referenceNucleus(logits, p)
            let kept = nucleus.reduce(0) { $0 + $1.weight }
            var result = [Double](repeating: 0, count: raw.count)
            for candidate in nucleus { result[candidate.id] = candidate.weight / kept }
            return result
        }
        var gaussian = RandomStream(seed: 5)
        let logits = (0..<500).map { _ in (gaussian.nextUnitFloat() - 0.5) * 12 }
        var history = TokenHistory(prompt: [1, 2, 3, 400])
        for t: Int32 in [3, 3, 7, 9] { history.append(t) }
        var workspace = SamplingWorkspace()
        var probabilities = [Float](repeating: -1, count: logits.count)
        for (temperature, topK, topP, minP) in [(Float(1), 0, Float(1), Float(0)), (0.7, 0, 0.9, 0), (1.3, 40, 1, 0),
                                                (0.8, 0, 1, 0.05), (1, 0, 0.5, 0.01)] {
            var p = SamplingParams()
            (p.temperature, p.topK, p.topP, p.minP) = (temperature, topK, topP, minP)
            (p.repetitionPenalty, p.frequencyPenalty, p.presencePenalty) = (1.1, 0.2, 0.3)
            p.seed = 11
            var sampler = Sampler(params: p)
            let excluded = ExcludedTokens(Int32(logits.indices.max { logits[$0] < logits[$1] }!))
            logits.withUnsafeBufferPointer { l in
                probabilities.withUnsafeMutableBufferPointer { out in
                    sampler.distribution(
                        l.baseAddress!, count: l.count, history: history, excluding: excluded, workspace: &workspace,
                        into: out.baseAddress!)
                }
            }
            let expected = reference(logits, p, history, excluded: Int(excluded.first))
            let error = zip(probabilities, expected).map { abs(Double($0) - $1) }.max()!
            #expect(error < 1e-5, "T \(temperature) k \(topK) p \(topP) min-p \(minP): off by \(error)")
            for _ in 0..<200 {
                let id = logits.withUnsafeBufferPointer {
                    sampler.sample($0.baseAddress!, count: $0.count, history: history, excluding: excluded, workspace: &workspace).id
                }
                #expect(expected[Int(id)] > 0, "drew \(id), outside the distribution")
            }
        }
        var greedy = SamplingParams()
        greedy.temperature = 0
        logits.withUnsafeBufferPointer { l in
            probabilities.withUnsafeMutableBufferPointer { out in
                Sampler(params: greedy).distribution(
                    l.baseAddress!, count: l.count, history: nil, workspace: &workspace, into: out.baseAddress!)
            }
        }
        let argmax = Int(logits.withUnsafeBufferPointer { Sampler.argmax($0.baseAddress!, count: $0.count) })
        #expect(probabilities[argmax] == 1 && probabilities.reduce(0, +) == 1)
    }

    /// The chain after penalties in float64, the plain way: every token sorted (higher logit,
    /// then lower id), the top-k cut, softmax weights at the temperature, the top-p cut
    /// (the shortest prefix reaching `topP` of the mass), then the min-p cut. Returns the
    /// kept candidates best first with their unnormalised weights.
    static func referenceNucleus(_ logits: [Double], _ p: SamplingParams) -> [(id: Int, weight: Double)] {
        var order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        if p.topK > 0 && p.topK < order.count { order = Array(order.prefix(p.topK)) }
        let top = logits[order[0]]
        let weights = order.map { exp((logits[$0] - top) / Double(p.temperature)) }
        let total = weights.reduce(0, +)
        var keep = weights.count
        if p.topP < 1 {
            var cumulative = 0.0
            for (i, w) in weights.enumerated() {
                cumulative += w / total
                if cumulative >= Double(p.topP) { keep = i + 1; break }
            }
        }
        while keep > 1 && weights[keep - 1] < Double(p.minP) { keep -= 1 }
        return (0..<keep).map { (id: order[$0], weight: weights[$0]) }
    }

    @Test func validationNamesTheParameter() {
        var p = SamplingParams()
        p.temperature = -1
        #expect(throws: RequestError.self) { try p.validate() }
        p.temperature = 1
        p.topP = 1.5
        #expect(throws: RequestError.invalidParameter(name: "top_p", reason: "must be in (0, 1], got 1.5")) { try p.validate() }
    }
}
