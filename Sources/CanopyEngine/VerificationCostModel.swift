/// What one more token costs a decode step on this machine, as a share of a one-token step:
/// the `cost` that `Scheduler.stepProposalThreshold` weighs proposals against, measured
/// from the engine's own decode steps instead of fixed.
///
/// The share is a property of the CPU and its kernels, not of the model alone: verifying a
/// window of `n` tokens took about `1 + 0.27 (n - 1)` one-token steps on a 2-core Xeon with
/// AVX-512 VNNI and `1 + 0.46 (n - 1)` on a 2-core AVX2 Zen 3 (`canopy-bench single
/// --windows 9`). A proposal that pays on one loses on the other, so the engine learns it.
///
/// **What is recorded.** `cost` is measured only from steps in which one sequence decodes,
/// alone: its last token and `n - 1` proposals (`EngineCore` decides). Steps of several
/// sequences carry their contexts' attention and their own sampling, so their sizes would not
/// be comparable with a window's; they are kept apart, by size, for `batchThreshold(decodes:)`
/// (see `StepTimeMeans` for the warm-up, weights and fading of both).
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
    var maximumTokens: Int { windows.maximumTokens }
    /// Weight of the prior, in observations of a two-token step.
    static let priorWeight = 8.0
    /// The highest cost `cost` answers: below `SpeculationState.prior` (see the type's note).
    static let maximumCost = 0.7

    /// Steps of one sequence decoding alone, by size: what `cost` is measured from.
    private var windows: StepTimeMeans
    /// Decode-only steps of several sequences (no prompt chunk), by size: what
    /// `batchThreshold(decodes:)` is measured from.
    private var batches: StepTimeMeans

    /// A model that answers `prior` (at most `maximumCost`) until it has measured steps of up
    /// to `maximumTokens` tokens.
    init(prior: Double, maximumTokens: Int) {
        self.prior = prior
        windows = StepTimeMeans(maximumTokens: maximumTokens)
        batches = StepTimeMeans(maximumTokens: maximumTokens)
    }

    /// Folds in one step of `tokens` tokens of a single decoding sequence that took `seconds`;
    /// ignored when `tokens` is outside 1...maximumTokens or `seconds` is not a positive
    /// number. O(maximumTokens).
    mutating func record(tokens: Int, seconds elapsed: Double) {
        windows.record(tokens: tokens, seconds: elapsed)
    }

    /// Folds in one decode-only step of several sequences (their last tokens and any
    /// proposals, no prompt chunk) of `tokens` tokens that took `seconds`; ignored as
    /// `record(tokens:seconds:)` ignores. O(maximumTokens).
    mutating func recordBatch(tokens: Int, seconds elapsed: Double) {
        batches.record(tokens: tokens, seconds: elapsed)
    }

    /// The measured share one more token adds to a one-token step, blended with `prior`;
    /// within 0...maximumCost. O(maximumTokens).
    var cost: Double {
        guard prior > 0 else { return 0 }
        guard let one = windows.seconds(tokens: 1) else { return min(prior, Self.maximumCost) }
        var sum = Self.priorWeight * prior
        var total = Self.priorWeight
        for tokens in 2...max(2, maximumTokens) {
            guard let wide = windows.seconds(tokens: tokens) else { continue }
            let n = Double(tokens - 1)
            let weight = min(windows.weight(tokens: tokens), windows.weight(tokens: 1)) * n * n
            sum += weight * (wide / one - 1) / n
            total += weight
        }
        return min(Self.maximumCost, max(0, sum / total))
    }

    /// Fills `times` with the time of a window of 1...maximumTokens tokens of one sequence
    /// alone, in one-token steps (index n - 1): the measured ratio to the one-token step where
    /// both sizes count, else the line `1 + cost × (n − 1)`; never above
    /// `1 + maximumCost × (n − 1)`, so that a new sequence's first proposal still pays (see the
    /// type's note). Plus `extraPerToken` per proposal (a draft model's work). O(maximumTokens).
    func windowTimes(into times: inout [Double], extraPerToken: Double = 0) {
        times.removeAll(keepingCapacity: true)
        let slope = cost
        let one = prior > 0 ? windows.seconds(tokens: 1) : nil
        for tokens in 1...maximumTokens {
            let n = Double(tokens - 1)
            var ratio = 1 + slope * n
            if tokens > 1, let one, let wide = windows.seconds(tokens: tokens) { ratio = wide / one }
            times.append(min(ratio, 1 + Self.maximumCost * n) + extraPerToken * n)
        }
    }

    /// The expected tokens a proposal must yield to pay for itself in a step where `decodes`
    /// sequences decode, from those steps' own measured times: the tokens per second such a
    /// step makes, `decodes / T(decodes)`, times what one more token adds to it,
    /// `T(decodes + 1) − T(decodes)`. Nil while either size is unmeasured, or when `prior` is
    /// 0 (proposals are then never weighed).
    ///
    /// Why not `cost` alone: a step's time is not a straight line in its tokens. On a 2-core
    /// AVX2 Zen 3 (SmolLM2 Q4_1, 290 cached tokens each, `canopy-bench single
    /// --window-decodes`) one proposal added 1.0-1.2 ms to one or two sequences' step but
    /// 2.1-2.5 ms to eight's (18.2 ms): 0.44 of a one-token step where `cost` said 0.29, so at
    /// 8 streams proposals of 80 % acceptance lost about 4 % of the decode steps' speed. O(1).
    func batchThreshold(decodes: Int) -> Double? {
        guard prior > 0, decodes >= 1, let base = batches.seconds(tokens: decodes),
              let wider = batches.seconds(tokens: decodes + 1)
        else { return nil }
        return Double(decodes) * max(0, wider - base) / base
    }
}
