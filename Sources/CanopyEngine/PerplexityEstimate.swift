import Foundation

/// A running perplexity estimate over scored tokens, as llama-perplexity computes it.
///
/// Keeps the count, the sum and the sum of squares of the tokens' negative log-likelihoods
/// (natural log) in Double. Perplexity is `exp(mean)`; its uncertainty is the standard
/// error of the mean carried through the exponential (`ppl * sqrt(var / (n - 1))`, with
/// `var` the population variance), which is llama-perplexity's "+/-". Adding tokens in any
/// order gives the same estimate up to rounding.
public struct PerplexityEstimate: Sendable, Equatable {
    /// Tokens scored so far.
    public private(set) var count = 0
    /// Sum of their negative log-likelihoods.
    public private(set) var sum = 0.0
    /// Sum of the squares of their negative log-likelihoods.
    public private(set) var sumOfSquares = 0.0

    /// An estimate over no tokens.
    public init() {}

    /// Adds one scored token: `nll = -log p(token | context)`, natural log.
    public mutating func add(_ nll: Double) {
        count += 1
        sum += nll
        sumOfSquares += nll * nll
    }

    /// Adds every token `other` scored.
    public mutating func add(_ other: PerplexityEstimate) {
        count += other.count
        sum += other.sum
        sumOfSquares += other.sumOfSquares
    }

    /// Mean negative log-likelihood per token; NaN before any token.
    public var meanNLL: Double { count > 0 ? sum / Double(count) : .nan }

    /// `exp(meanNLL)`; NaN before any token.
    public var perplexity: Double { exp(meanNLL) }

    /// The standard error of `perplexity`, or nil when it is undefined: fewer than two
    /// tokens, or a variance that rounding made zero or negative (llama-perplexity prints
    /// an error instead of a number there).
    public var uncertainty: Double? {
        guard count > 1 else { return nil }
        let mean = meanNLL
        let variance = sumOfSquares / Double(count) - mean * mean
        guard variance > 0 else { return nil }
        return perplexity * (variance / Double(count - 1)).squareRoot()
    }
}
