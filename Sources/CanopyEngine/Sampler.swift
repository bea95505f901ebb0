import Foundation

/// One token's log-probability under the model.
public struct TokenLogprob: Sendable, Equatable {
    /// The token.
    public var id: Int32
    /// Natural log of its probability under the raw logits (before penalties and cuts).
    public var logprob: Float
}

/// A sampled token with the log-probabilities the request asked for.
public struct SampledToken: Sendable, Equatable {
    /// The chosen token.
    public var id: Int32
    /// Its log-probability, when `SamplingParams.logprobs` is set.
    public var logprob: Float?
    /// The most likely alternatives, most likely first, when `logprobs` > 0.
    public var topLogprobs: [TokenLogprob]
}

/// Which tokens a sequence has seen, for repetition, frequency and presence penalties.
public struct TokenHistory: Sendable {
    /// Tokens of the prompt.
    public private(set) var promptTokens: Set<Int32>
    /// How often each token was generated.
    public private(set) var generatedCounts: [Int32: Int] = [:]

    /// Creates the history of a sequence that has only its prompt.
    public init(prompt: [Int32]) {
        promptTokens = Set(prompt)
    }

    /// Records a generated token.
    public mutating func append(_ token: Int32) {
        generatedCounts[token, default: 0] += 1
    }
}

/// Chooses the next token of one sequence from its logits.
///
/// The chain: penalties, then temperature, then top-k, top-p and min-p cuts over the
/// softmax, then a draw from the sequence's own `RandomStream`. Greedy decoding
/// (temperature 0) takes the argmax, the lowest id on ties, and draws nothing. The stream
/// depends only on the seed and the sample index, so the same request gives the same tokens
/// whatever else the engine runs.
public struct Sampler: Sendable {
    /// The parameters this sampler applies.
    public let params: SamplingParams
    private var random: RandomStream

    /// Creates the sampler of sample `index` (0..<n) of a request; a request without a seed
    /// gets one from the system generator.
    public init(params: SamplingParams, index: Int = 0) {
        self.params = params
        let seed = params.seed ?? UInt64.random(in: .min ... .max)
        random = RandomStream(seed: seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
    }

    /// Picks a token from `logits` (`count` values, one per vocabulary entry).
    public mutating func sample(_ logits: UnsafePointer<Float>, count: Int, history: TokenHistory? = nil) -> SampledToken {
        precondition(count > 0, "no logits to sample from")
        var result: SampledToken
        if params.hasPenalties, let history {
            let adjusted = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { adjusted.deallocate() }
            adjusted.update(from: logits, count: count)
            applyPenalties(adjusted, history: history)
            result = SampledToken(id: choose(adjusted, count: count), logprob: nil, topLogprobs: [])
        } else {
            result = SampledToken(id: choose(logits, count: count), logprob: nil, topLogprobs: [])
        }
        if let n = params.logprobs {
            (result.logprob, result.topLogprobs) = Self.logprobs(logits, count: count, chosen: result.id, top: n)
        }
        return result
    }

    private func applyPenalties(_ logits: UnsafeMutablePointer<Float>, history: TokenHistory) {
        if params.repetitionPenalty != 1 {
            let seen = history.promptTokens.union(history.generatedCounts.keys)
            for token in seen {
                let i = Int(token)
                logits[i] = logits[i] > 0 ? logits[i] / params.repetitionPenalty : logits[i] * params.repetitionPenalty
            }
        }
        for (token, times) in history.generatedCounts {
            logits[Int(token)] -= params.frequencyPenalty * Float(times) + params.presencePenalty
        }
    }

    private mutating func choose(_ logits: UnsafePointer<Float>, count: Int) -> Int32 {
        if params.temperature == 0 || params.topK == 1 {
            return Self.argmax(logits, count: count)
        }
        // Candidates sorted by logit, descending (lowest id first among equals).
        var candidates = (0..<count).map { (id: Int32($0), logit: logits[$0]) }
        if params.topK > 0 && params.topK < count {
            candidates = Array(Self.largest(candidates, params.topK))
        } else {
            candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        }
        let top = candidates[0].logit
        var probabilities = candidates.map { expf(($0.logit - top) / params.temperature) }
        let total = probabilities.reduce(0, +)
        for i in probabilities.indices { probabilities[i] /= total }

        var keep = probabilities.count
        if params.topP < 1 {
            var cumulative: Float = 0
            for (i, p) in probabilities.enumerated() {
                cumulative += p
                if cumulative >= params.topP { keep = i + 1; break }
            }
        }
        if params.minP > 0 {
            let threshold = params.minP * probabilities[0]
            while keep > 1 && probabilities[keep - 1] < threshold { keep -= 1 }
        }
        let kept = probabilities[0..<keep].reduce(0, +)
        var target = random.nextUnitFloat() * kept
        for i in 0..<keep {
            target -= probabilities[i]
            if target < 0 { return candidates[i].id }
        }
        return candidates[keep - 1].id
    }

    /// The `k` largest candidates, sorted descending, in O(n log k).
    private static func largest(_ candidates: [(id: Int32, logit: Float)], _ k: Int) -> [(id: Int32, logit: Float)] {
        func before(_ a: (id: Int32, logit: Float), _ b: (id: Int32, logit: Float)) -> Bool {
            a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
        }
        var kept: [(id: Int32, logit: Float)] = []
        kept.reserveCapacity(k + 1)
        for candidate in candidates {
            if kept.count == k, !before(candidate, kept[k - 1]) { continue }
            var i = kept.count
            while i > 0 && before(candidate, kept[i - 1]) { i -= 1 }
            kept.insert(candidate, at: i)
            if kept.count > k { kept.removeLast() }
        }
        return kept
    }

    /// Log-softmax of the chosen token and the `top` most likely tokens.
    static func logprobs(_ logits: UnsafePointer<Float>, count: Int, chosen: Int32, top: Int) -> (Float, [TokenLogprob]) {
        var maxValue = -Float.infinity
        for i in 0..<count where logits[i] > maxValue { maxValue = logits[i] }
        var sum: Double = 0
        for i in 0..<count { sum += Double(expf(logits[i] - maxValue)) }
        let logNormalizer = maxValue + Float(log(sum))
        var best: [TokenLogprob] = []
        if top > 0 {
            let all = (0..<count).map { (id: Int32($0), logit: logits[$0]) }
            best = largest(all, top).map { TokenLogprob(id: $0.id, logprob: $0.logit - logNormalizer) }
        }
        return (logits[Int(chosen)] - logNormalizer, best)
    }

    /// Index of the largest logit; the lowest index among equal maxima.
    public static func argmax(_ logits: UnsafePointer<Float>, count: Int) -> Int32 {
        var best = 0
        var bestValue = logits[0]
        for i in 1..<count where logits[i] > bestValue {
            best = i
            bestValue = logits[i]
        }
        return Int32(best)
    }
}
