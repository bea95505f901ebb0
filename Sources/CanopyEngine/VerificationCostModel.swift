/// What one more token costs a decode step on this machine, as a share of a one-token step:
/// the `cost` that `Scheduler.proposalThreshold` weighs every proposal against, measured
/// from the engine's own decode steps instead of fixed.
///
/// The share is a property of the CPU and its kernels, not of the model alone: verifying a
/// window of `n` tokens took about `1 + 0.27 (n - 1)` one-token steps on a 2-core Xeon with
/// AVX-512 VNNI and `1 + 0.46 (n - 1)` on a 2-core AVX2 Zen 3 (`canopy-bench single
/// --windows 9`). A proposal that pays on one loses on the other, so the engine learns it.
///
/// **What is recorded.** Only steps in which one sequence decodes, alone: its last token and
/// `n - 1` proposals (`EngineCore` decides). Steps of several sequences carry their contexts'
/// attention and their own sampling, so their sizes would not be comparable with a window's.
/// The first `warmupSteps` steps of each size are dropped: they grow scratch buffers and logit
/// rows and run several times slower than the ones after.
///
/// **The estimate.** An exponentially weighted mean of seconds per size; each size `n > 1`
/// measured beside one-token steps gives `(t_n / t_1 - 1) / (n - 1)`, and these are averaged
/// with weights `(n - 1)²` (a wider window measures the slope better) together with the
/// configured prior, which counts as `priorWeight` two-token observations. A size's weight
/// decays with every step recorded after it, so a measurement taken while the machine was busy
/// fades back to the prior.
///
/// **Why capped.** A sequence's acceptance estimate moves only when it verifies proposals
/// (`SpeculationState`), and it is reset towards `SpeculationState.prior` while it proposes
/// nothing. A cost at or above that prior would make a lone sequence's first proposal look
/// unprofitable, so no sequence would ever propose again and the acceptance would never get to
/// show that it pays: one slow spell would switch speculation off for good. `maximumCost` stays
/// below the prior, so a new sequence always tries a proposal and its own acceptance decides.
///
/// Until one-token steps and some other size have both been measured, `cost` is the prior; a
/// prior of 0 (propose whenever there is a proposal, as tests ask) is never replaced.
struct VerificationCostModel {
    /// The configured share (`EngineConfig.speculativeTokenCost`) used before and beside the
    /// measurements.
    let prior: Double
    /// Largest step, in tokens, that is recorded (a speculating step's bound).
    let maximumTokens: Int
    /// Weight of the prior, in observations of a two-token step.
    static let priorWeight = 8.0
    /// Weight of the newest step in its size's mean.
    static let learningRate = 0.1
    /// Weight every size keeps per recorded step: about the last 700 steps count.
    static let retention = 0.9985
    /// Most weight one size's mean can carry, in steps.
    static let maximumWeight = 20.0
    /// Steps of each size dropped before its mean starts.
    static let warmupSteps = 2
    /// Steps of a size measured (after the warm-up) before its mean counts.
    static let minimumSteps = 3
    /// The highest cost `cost` answers: below `SpeculationState.prior` (see the type's note).
    static let maximumCost = 0.7

    /// Per token count 1...maximumTokens (index n - 1): steps seen (warm-up included), mean
    /// seconds and its weight.
    private var steps: [Int]
    private var seconds: [Double]
    private var weights: [Double]

    /// A model that answers `prior` (at most `maximumCost`) until it has measured steps of up
    /// to `maximumTokens` tokens.
    init(prior: Double, maximumTokens: Int) {
        self.prior = prior
        self.maximumTokens = max(1, maximumTokens)
        steps = Array(repeating: 0, count: self.maximumTokens)
        seconds = Array(repeating: 0, count: self.maximumTokens)
        weights = Array(repeating: 0, count: self.maximumTokens)
    }

    /// Folds in one step of `tokens` tokens of a single decoding sequence that took `seconds`;
    /// ignored when `tokens` is outside 1...maximumTokens or `seconds` is not a positive
    /// number. O(maximumTokens).
    mutating func record(tokens: Int, seconds elapsed: Double) {
        guard tokens >= 1, tokens <= maximumTokens, elapsed > 0, elapsed.isFinite else { return }
        let i = tokens - 1
        steps[i] += 1
        guard steps[i] > Self.warmupSteps else { return }
        for n in weights.indices { weights[n] *= Self.retention }
        let rate = max(Self.learningRate, 1 / (weights[i] + 1))
        seconds[i] += rate * (elapsed - seconds[i])
        weights[i] = min(Self.maximumWeight, weights[i] + 1)
    }

    /// The measured share one more token adds to a one-token step, blended with `prior`;
    /// within 0...maximumCost. O(maximumTokens).
    var cost: Double {
        guard prior > 0 else { return 0 }
        guard counts(0), seconds[0] > 0 else { return min(prior, Self.maximumCost) }
        var sum = Self.priorWeight * prior
        var total = Self.priorWeight
        for i in 1..<maximumTokens where counts(i) {
            let n = Double(i)  // tokens - 1
            let weight = min(weights[i], weights[0]) * n * n
            sum += weight * (seconds[i] / seconds[0] - 1) / n
            total += weight
        }
        return min(Self.maximumCost, max(0, sum / total))
    }

    /// Whether size `i + 1` has enough measured steps, recent enough (weight at least one step),
    /// to count.
    private func counts(_ i: Int) -> Bool {
        steps[i] >= Self.warmupSteps + Self.minimumSteps && weights[i] >= 1
    }
}
