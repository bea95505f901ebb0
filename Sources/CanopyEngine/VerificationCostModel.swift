/// What one more token costs a decode step on this machine, as a share of a one-token step:
/// the `cost` that `Scheduler.proposalThreshold` weighs every proposal against, measured
/// from the engine's own decode steps instead of fixed.
///
/// The share is a property of the CPU and its kernels, not of the model alone: verifying a
/// window of `n` tokens took about `1 + 0.27 (n - 1)` one-token steps on a 2-core Xeon with
/// AVX-512 VNNI and `1 + 0.47 (n - 1)` on a 2-core AVX2 Zen 3 (`canopy-bench single
/// --windows 9`). A proposal that pays on one loses on the other, so the engine learns it.
///
/// Every decode step (no prompt tokens in it) of at most `maximumTokens` tokens is recorded by
/// its token count: an exponentially weighted mean of its seconds per count. Each count `n >
/// 1` seen alongside one-token steps gives an estimate `(t_n / t_1 - 1) / (n - 1)`; the
/// estimates are averaged with weights `(n - 1)²` (a wider window measures the slope better)
/// together with the configured prior, which counts as `priorWeight` such observations. A
/// count's weight decays with every step recorded after it, so a measurement taken while the
/// machine was busy fades back to the prior instead of switching speculation off for good.
///
/// Until steps of one token and of some other count have both been seen, `cost` is the prior;
/// a prior of 0 (propose whenever there is a proposal, as tests ask) is never replaced.
struct VerificationCostModel {
    /// The configured share (`EngineConfig.speculativeTokenCost`) used before and beside the
    /// measurements.
    let prior: Double
    /// Largest step, in tokens, that is recorded (a speculating step's bound).
    let maximumTokens: Int
    /// Weight of the prior, in observations of a two-token step.
    static let priorWeight = 8.0
    /// Weight of the newest step in its count's mean.
    static let learningRate = 0.1
    /// Weight every count keeps per recorded step: about the last 700 steps count.
    static let retention = 0.9985
    /// Most weight one count's mean can carry, in steps.
    static let maximumWeight = 20.0

    /// Per token count 1...maximumTokens (index n - 1): mean seconds and its weight.
    private var seconds: [Double]
    private var weights: [Double]

    /// A model that answers `prior` until it has measured steps of up to `maximumTokens`.
    init(prior: Double, maximumTokens: Int) {
        self.prior = prior
        self.maximumTokens = max(1, maximumTokens)
        seconds = Array(repeating: 0, count: self.maximumTokens)
        weights = Array(repeating: 0, count: self.maximumTokens)
    }

    /// Folds in one decode step of `tokens` tokens that took `seconds`; ignored when `tokens`
    /// is outside 1...maximumTokens or `seconds` is not positive. O(maximumTokens).
    mutating func record(tokens: Int, seconds elapsed: Double) {
        guard tokens >= 1, tokens <= maximumTokens, elapsed > 0, elapsed.isFinite else { return }
        for n in weights.indices { weights[n] *= Self.retention }
        let i = tokens - 1
        let rate = max(Self.learningRate, 1 / (weights[i] + 1))
        seconds[i] += rate * (elapsed - seconds[i])
        weights[i] = min(Self.maximumWeight, weights[i] + 1)
    }

    /// The measured share one more token adds to a one-token step, blended with `prior`;
    /// at least 0. O(maximumTokens).
    var cost: Double {
        guard prior > 0, weights[0] >= 1, seconds[0] > 0 else { return prior }
        var sum = Self.priorWeight * prior
        var total = Self.priorWeight
        for i in 1..<maximumTokens where weights[i] >= 1 {
            let n = Double(i)  // tokens - 1
            let weight = min(weights[i], weights[0]) * n * n
            sum += weight * (seconds[i] / seconds[0] - 1) / n
            total += weight
        }
        return max(0, sum / total)
    }
}
