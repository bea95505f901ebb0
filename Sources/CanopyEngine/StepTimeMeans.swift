/// Mean seconds of the engine's decode steps by their size in tokens (1...`maximumTokens`),
/// each an exponentially weighted mean that follows the machine's drift: what
/// `VerificationCostModel` prices proposals with.
///
/// The first `warmupSteps` steps of each size are dropped: they grow scratch buffers and
/// logit rows and run several times slower than the ones after. A size's mean counts
/// (`seconds(tokens:)` answers it) after `minimumSteps` more, while its weight — which decays
/// with every step recorded, of any size — is at least one step: a size not seen for about
/// 2000 steps no longer counts, so a measurement from a busy spell fades.
struct StepTimeMeans {
    /// Largest step, in tokens, that is recorded.
    let maximumTokens: Int
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

    /// Per token count 1...maximumTokens (index n - 1): steps seen (warm-up included), mean
    /// seconds and its weight.
    private var steps: [Int]
    private var means: [Double]
    private var weights: [Double]

    /// An empty table for steps of 1...`maximumTokens` tokens (at least 1).
    init(maximumTokens: Int) {
        self.maximumTokens = max(1, maximumTokens)
        steps = Array(repeating: 0, count: self.maximumTokens)
        means = Array(repeating: 0, count: self.maximumTokens)
        weights = Array(repeating: 0, count: self.maximumTokens)
    }

    /// Folds in one step of `tokens` tokens that took `seconds`; ignored when `tokens` is
    /// outside 1...maximumTokens or `seconds` is not a positive number. O(maximumTokens).
    mutating func record(tokens: Int, seconds elapsed: Double) {
        guard tokens >= 1, tokens <= maximumTokens, elapsed > 0, elapsed.isFinite else { return }
        let i = tokens - 1
        steps[i] += 1
        guard steps[i] > Self.warmupSteps else { return }
        for n in weights.indices { weights[n] *= Self.retention }
        let rate = max(Self.learningRate, 1 / (weights[i] + 1))
        means[i] += rate * (elapsed - means[i])
        weights[i] = min(Self.maximumWeight, weights[i] + 1)
    }

    /// The mean seconds of a `tokens`-token step, nil unless that size counts (see the type's
    /// note). O(1).
    func seconds(tokens: Int) -> Double? {
        guard tokens >= 1, tokens <= maximumTokens else { return nil }
        let i = tokens - 1
        guard steps[i] >= Self.warmupSteps + Self.minimumSteps, weights[i] >= 1, means[i] > 0 else { return nil }
        return means[i]
    }

    /// The weight of a `tokens`-token step's mean, in steps (0 outside 1...maximumTokens). O(1).
    func weight(tokens: Int) -> Double {
        tokens >= 1 && tokens <= maximumTokens ? weights[tokens - 1] : 0
    }
}
