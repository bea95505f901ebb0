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

/// Up to two tokens a sampler must not choose this time (no allocation per step).
public struct ExcludedTokens: Sendable, Equatable {
    /// One excluded token, -1 for none.
    public var first: Int32 = -1
    /// Another excluded token, -1 for none.
    public var second: Int32 = -1
    /// Nothing excluded.
    public static let none = ExcludedTokens()
    /// Whether nothing is excluded.
    public var isEmpty: Bool { first < 0 && second < 0 }

    /// Excludes nothing.
    public init() {}
    /// Excludes `first` and, when given, `second`.
    public init(_ first: Int32, _ second: Int32? = nil) {
        self.first = first
        self.second = second ?? -1
    }
}

/// Buffers `Sampler` reuses between calls: with one workspace per engine, sampling allocates
/// nothing in steady state unless log-probabilities are requested.
public struct SamplingWorkspace: Sendable {
    /// Candidate tokens, most likely first.
    var candidates: [(id: Int32, logit: Float)] = []
    /// exp((logit - top) / temperature) of each candidate, in the same order.
    var weights: [Float] = []
    /// Logits after penalties.
    var adjusted: [Float] = []

    /// Creates an empty workspace; it grows to the vocabulary size on first use.
    public init() {}
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

    /// Picks a token from `logits` (`count` values, one per vocabulary entry), with a
    /// workspace of its own (one allocation per call; see `sample(_:count:history:workspace:)`).
    public mutating func sample(_ logits: UnsafePointer<Float>, count: Int, history: TokenHistory? = nil) -> SampledToken {
        var workspace = SamplingWorkspace()
        return sample(logits, count: count, history: history, workspace: &workspace)
    }

    /// Picks a token from `logits` (`count` values, one per vocabulary entry), using
    /// `workspace` for its buffers; penalties apply when `history` is given; `excluded`
    /// tokens are never chosen (APAR's control-token rules).
    public mutating func sample(
        _ logits: UnsafePointer<Float>, count: Int, history: TokenHistory?, excluding excluded: ExcludedTokens = .none,
        workspace: inout SamplingWorkspace
    ) -> SampledToken {
        precondition(count > 0, "no logits to sample from")
        let id = Self.withAdjusted(params, logits, count: count, history: history, excluding: excluded, workspace: &workspace) {
            adjusted, workspace in choose(adjusted, count: count, workspace: &workspace)
        }
        var result = SampledToken(id: id, logprob: nil, topLogprobs: [])
        if let n = params.logprobs {
            (result.logprob, result.topLogprobs) = Self.logprobs(logits, count: count, chosen: result.id, top: n)
        }
        return result
    }

    /// The distribution `sample` draws from for these logits, written to `probabilities`
    /// (`count` values summing to 1; 0 for every token a cut removes, or that is excluded):
    /// penalties, temperature, top-k, top-p and min-p applied exactly as `sample` applies
    /// them; greedy is a point mass on the argmax. Speculative decoding with a draft model
    /// judges proposals on it (`DraftVerdict`). Draws nothing. O(vocabulary), plus ranking
    /// the tokens a cut needs.
    public func distribution(
        _ logits: UnsafePointer<Float>, count: Int, history: TokenHistory?, excluding excluded: ExcludedTokens = .none,
        workspace: inout SamplingWorkspace, into probabilities: UnsafeMutablePointer<Float>
    ) {
        precondition(count > 0, "no logits to weigh")
        Self.withAdjusted(params, logits, count: count, history: history, excluding: excluded, workspace: &workspace) {
            adjusted, workspace in
            probabilities.update(repeating: 0, count: count)
            if isGreedy {
                probabilities[Int(Self.argmax(adjusted, count: count))] = 1
                return
            }
            let temperature = params.temperature
            if params.topK == 0 || params.topK >= count, params.topP >= 1, params.minP == 0 {
                // No cut: the whole softmax (what `draw` gives with every token kept).
                var top = -Float.infinity
                for i in 0..<count where adjusted[i] > top { top = adjusted[i] }
                var total: Float = 0
                for i in 0..<count { total += expf((adjusted[i] - top) / temperature) }
                for i in 0..<count { probabilities[i] = expf((adjusted[i] - top) / temperature) / total }
                return
            }
            let ranked = rankCandidates(adjusted, count: count, workspace: &workspace) { total in
                params.topP < 1 ? params.topP * total : total
            }
            let (keep, kept) = Self.cut(workspace.weights, total: ranked.total, params, complete: ranked.complete)
            for i in 0..<keep { probabilities[Int(workspace.candidates[i].id)] = workspace.weights[i] / kept }
        }
    }

    /// A uniform draw in [0, 1) from this sampler's own stream (the draft-model rule's
    /// acceptance test and residual draw use it, so a seeded request stays reproducible).
    public mutating func nextUniform() -> Float { random.nextUnitFloat() }

    /// Whether this sampler always takes the argmax (temperature 0 or top-k 1).
    public var isGreedy: Bool { params.temperature == 0 || params.topK == 1 }

    /// Runs `body` on the logits after penalties (when `history` is given and the request
    /// has any) and exclusions; on `logits` itself when neither applies.
    private static func withAdjusted<T>(
        _ params: SamplingParams, _ logits: UnsafePointer<Float>, count: Int, history: TokenHistory?, excluding excluded: ExcludedTokens,
        workspace: inout SamplingWorkspace,
        _ body: (UnsafePointer<Float>, inout SamplingWorkspace) -> T
    ) -> T {
        let penalized = params.hasPenalties && history != nil
        guard penalized || !excluded.isEmpty else { return body(logits, &workspace) }
        var adjusted = workspace.adjusted
        workspace.adjusted = []  // taken out so body can use the rest of the workspace
        adjusted.removeAll(keepingCapacity: true)
        adjusted.append(contentsOf: UnsafeBufferPointer(start: logits, count: count))
        let result = adjusted.withUnsafeMutableBufferPointer { buffer in
            if penalized, let history { applyPenalties(params, buffer.baseAddress!, history: history) }
            if excluded.first >= 0 && Int(excluded.first) < count { buffer[Int(excluded.first)] = -.infinity }
            if excluded.second >= 0 && Int(excluded.second) < count { buffer[Int(excluded.second)] = -.infinity }
            return body(UnsafePointer(buffer.baseAddress!), &workspace)
        }
        workspace.adjusted = adjusted
        return result
    }

    private static func applyPenalties(_ params: SamplingParams, _ logits: UnsafeMutablePointer<Float>, history: TokenHistory) {
        if params.repetitionPenalty != 1 {
            func penalize(_ token: Int32) {
                let i = Int(token)
                logits[i] = logits[i] > 0 ? logits[i] / params.repetitionPenalty : logits[i] * params.repetitionPenalty
            }
            // Every token seen once: the prompt's, then generated ones the prompt lacks.
            for token in history.promptTokens { penalize(token) }
            for token in history.generatedCounts.keys where !history.promptTokens.contains(token) { penalize(token) }
        }
        for (token, times) in history.generatedCounts {
            logits[Int(token)] -= params.frequencyPenalty * Float(times) + params.presencePenalty
        }
    }

    /// The chain after penalties: temperature, top-k, top-p and min-p, then one draw.
    ///
    /// Candidates are ranked best first (see `before`) with their weights exp((logit - top) / T)
    /// alongside (the best weighs 1; the softmax is weight / total). Without a top-k cut only
    /// the tokens weighing at least a floor are ranked: the floor drops (to 0, every token)
    /// only while the ranked tokens hold less mass than the top-p cut or the draw needs. The
    /// tokens above a floor are a prefix of the full ranking, so the draw is the one a full
    /// sort would give, for a few dozen comparisons instead of sorting the vocabulary (which
    /// was a third of the daemon's CPU time when every request sampled).
    private mutating func choose(_ logits: UnsafePointer<Float>, count: Int, workspace: inout SamplingWorkspace) -> Int32 {
        if isGreedy { return Self.argmax(logits, count: count) }
        let u = random.nextUnitFloat()
        let ranked = rankCandidates(logits, count: count, workspace: &workspace) { total in
            params.topP < 1 ? params.topP * total : u * total
        }
        let (keep, kept) = Self.cut(workspace.weights, total: ranked.total, params, complete: ranked.complete)
        var target = u * kept
        for i in 0..<keep {
            target -= workspace.weights[i]
            if target < 0 { return workspace.candidates[i].id }
        }
        return workspace.candidates[keep - 1].id
    }

    /// Ranks candidates best first into `workspace.candidates`, their weights
    /// exp((logit - top) / T) into `workspace.weights`: the k best under a top-k cut, else
    /// the tokens above the highest floor whose ranked mass exceeds `needed(total)` (every
    /// token at the last floor). Returns the softmax's denominator over the candidates'
    /// universe (the k, or the whole vocabulary) and whether every token of it was ranked.
    private func rankCandidates(
        _ logits: UnsafePointer<Float>, count: Int, workspace: inout SamplingWorkspace, needed: (Float) -> Float
    ) -> (total: Float, complete: Bool) {
        let temperature = params.temperature
        if params.topK > 0 && params.topK < count {
            // The softmax is over the k candidates only.
            Self.largest(logits, count: count, params.topK, into: &workspace.candidates)
            let total = Self.weigh(
                workspace.candidates, top: workspace.candidates[0].logit, temperature, into: &workspace.weights)
            return (total, true)
        }
        // Room for every token up front: how deep the ranking goes depends on the draw, and
        // growing on a deep one would allocate in steady state.
        workspace.candidates.reserveCapacity(count)
        workspace.weights.reserveCapacity(count)
        var top = -Float.infinity
        for i in 0..<count where logits[i] > top { top = logits[i] }
        var total: Float = 0
        for i in 0..<count { total += expf((logits[i] - top) / temperature) }
        // Mass the ranked prefix must hold: the nucleus, or the draw's target. With min-p
        // every token under its floor is cut, so that floor is the last one.
        let mass = needed(total)
        var level = params.minP > 0 ? Self.floors.count - 1 : 0
        while true {
            let floor = params.minP > 0 ? params.minP : Self.floors[level]
            // weight >= floor  <=>  logit >= top + T ln(floor); floor 0 ranks every token.
            let threshold = floor > 0 ? top + temperature * logf(floor) : -Float.infinity
            Self.rank(logits, count: count, atLeast: threshold, into: &workspace.candidates)
            let ranked = Self.weigh(workspace.candidates, top: top, temperature, into: &workspace.weights)
            let complete = level == Self.floors.count - 1
            if complete || ranked > mass { return (total, complete) }
            level += 1
        }
    }

    /// Weight floors the ranking steps down through, highest first; the last ranks every token.
    private static let floors: [Float] = [1e-2, 1e-4, 1e-6, 0]

    /// Fills `weights` with each candidate's exp((logit - top) / T), in order; returns their sum.
    private static func weigh(
        _ candidates: [(id: Int32, logit: Float)], top: Float, _ temperature: Float, into weights: inout [Float]
    ) -> Float {
        weights.removeAll(keepingCapacity: true)
        var sum: Float = 0
        for c in candidates {
            let w = expf((c.logit - top) / temperature)
            weights.append(w)
            sum += w
        }
        return sum
    }

    /// The top-p and min-p cuts over ranked candidates holding the mass they need (all of
    /// the distribution's tokens when `complete`): how many of the first candidates are kept,
    /// and the mass to draw them by (their sum after a cut; the softmax's denominator `total`
    /// when nothing was cut from a partial ranking).
    private static func cut(_ weights: [Float], total: Float, _ params: SamplingParams, complete: Bool) -> (Int, Float) {
        var keep = weights.count
        var kept = total
        if params.topP < 1 {
            var cumulative: Float = 0
            for (i, w) in weights.enumerated() {
                cumulative += w
                if cumulative >= params.topP * total { keep = i + 1; break }
            }
            kept = cumulative
        }
        if params.minP > 0 {
            while keep > 1 && weights[keep - 1] < params.minP { keep -= 1 }
        }
        if keep < weights.count || params.minP > 0 || complete {
            kept = 0
            for w in weights[0..<keep] { kept += w }
        }
        return (keep, kept)
    }

    /// The tokens whose logit is at least `threshold`, ranked best first into `ranked`; its
    /// storage is reused.
    private static func rank(
        _ logits: UnsafePointer<Float>, count: Int, atLeast threshold: Float, into ranked: inout [(id: Int32, logit: Float)]
    ) {
        ranked.removeAll(keepingCapacity: true)
        for i in 0..<count where logits[i] >= threshold { ranked.append((id: Int32(i), logit: logits[i])) }
        ranked.withUnsafeMutableBufferPointer { heapSort($0) }
    }

    /// Whether candidate `a` ranks before `b`: higher logit, then lower id (a total order).
    private static func before(_ a: (id: Int32, logit: Float), _ b: (id: Int32, logit: Float)) -> Bool {
        a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
    }

    /// The `k` largest logits as candidates in `kept`, sorted descending, in O(n log k)
    /// expected; `kept`'s storage is reused.
    private static func largest(
        _ logits: UnsafePointer<Float>, count: Int, _ k: Int, into kept: inout [(id: Int32, logit: Float)]
    ) {
        kept.removeAll(keepingCapacity: true)
        kept.reserveCapacity(k + 1)
        for index in 0..<count {
            let candidate = (id: Int32(index), logit: logits[index])
            if kept.count == k, !before(candidate, kept[k - 1]) { continue }
            var i = kept.count
            while i > 0 && before(candidate, kept[i - 1]) { i -= 1 }
            kept.insert(candidate, at: i)
            if kept.count > k { kept.removeLast() }
        }
    }

    /// Sorts `items` best first (see `before`) in place, in O(n log n) without allocating
    /// (the standard library's sort takes a temporary buffer). The order is total, so the
    /// result is the same as any other correct sort's.
    private static func heapSort(_ items: UnsafeMutableBufferPointer<(id: Int32, logit: Float)>) {
        // A heap whose root is the worst item; moving the root to the end each round leaves
        // the best items first.
        func siftDown(_ start: Int, _ end: Int) {
            var root = start
            while true {
                var worst = root
                let left = 2 * root + 1, right = left + 1
                if left < end && before(items[worst], items[left]) { worst = left }
                if right < end && before(items[worst], items[right]) { worst = right }
                if worst == root { return }
                items.swapAt(root, worst)
                root = worst
            }
        }
        let n = items.count
        guard n > 1 else { return }
        for start in stride(from: n / 2 - 1, through: 0, by: -1) { siftDown(start, n) }
        for end in stride(from: n - 1, to: 0, by: -1) {
            items.swapAt(0, end)
            siftDown(0, end)
        }
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
            var kept: [(id: Int32, logit: Float)] = []
            largest(logits, count: count, Swift.min(top, count), into: &kept)
            best = kept.map { TokenLogprob(id: $0.id, logprob: $0.logit - logNormalizer) }
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
