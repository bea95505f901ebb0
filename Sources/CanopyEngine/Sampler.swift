import Foundation
import CanopyKernels

/// Chooses the next token of one sequence from its logits.
///
/// The chain is the usual one: temperature, then top-k, top-p and min-p cuts over the
/// softmax, then a draw from the request's own `RandomStream`. Greedy decoding (temperature
/// 0) takes the argmax, the lowest id on ties, and draws nothing.
public struct Sampler: Sendable {
    /// The parameters this sampler applies.
    public let params: SamplingParams
    private var random: RandomStream

    /// Creates a sampler; a request without a seed gets one from the system generator.
    public init(params: SamplingParams) {
        self.params = params
        random = RandomStream(seed: params.seed ?? UInt64.random(in: .min ... .max))
    }

    /// Picks a token from `logits` (`count` values, one per vocabulary entry).
    public mutating func sample(_ logits: UnsafePointer<Float>, count: Int) -> Int32 {
        precondition(count > 0, "no logits to sample from")
        if params.temperature == 0 || params.topK == 1 {
            return Self.argmax(logits, count: count)
        }
        // Candidates sorted by logit, descending; cut early when top-k allows.
        var candidates = (0..<count).map { (id: Int32($0), logit: logits[$0]) }
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        if params.topK > 0 && params.topK < candidates.count {
            candidates.removeLast(candidates.count - params.topK)
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
