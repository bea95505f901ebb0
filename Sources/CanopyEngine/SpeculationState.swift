/// One sequence's speculative decoding: the tokens a step verifies, and how many to propose
/// next.
///
/// A step that speculates runs the sequence's last token followed by its proposals
/// (`window`); the model returns logits after each of them, and the engine samples position
/// by position exactly as it would without speculation, keeping proposals while they equal
/// what it sampled.
///
/// How many to propose is a cost decision. The `j`-th proposal is used only if the `j - 1`
/// before it were accepted, so with a per-proposal acceptance `a` it yields `a^j` tokens on
/// average, while each token in a step costs a share of a step's time. Beside other decodes a
/// proposal is worth making while `a^j` is above the scheduler's threshold for the step (see
/// `Scheduler.stepProposalThreshold`); a sequence decoding alone takes the length that makes
/// the most tokens per unit of its window's measured time (`length(stepTimes:)`).
/// `acceptance` is a moving estimate of `a` from the
/// sequence's own verifications; while the sequence proposes nothing it drifts back
/// towards the prior, so text that starts repeating its context later is tried again.
struct SpeculationState {
    /// Most proposals per step for this sequence (0: it never speculates).
    let maximum: Int
    /// Estimated probability that a proposal is accepted, given the ones before it were.
    private(set) var acceptance = Self.prior
    /// This step's verified window: the sequence's last token, then the proposals.
    var window: [Int32] = []

    /// Where `acceptance` starts, and returns to while nothing is proposed.
    static let prior = 0.8
    /// Weight of the newest verification outcome in `acceptance`.
    static let learningRate = 0.3
    /// How far `acceptance` moves back to `prior` per decode step without proposals.
    static let recovery = 0.05

    /// State for a sequence allowed `maximum` proposals per step.
    init(maximum: Int) {
        self.maximum = maximum
        if maximum > 0 { window.reserveCapacity(maximum + 1) }
    }

    /// Proposals worth making when each must yield at least `threshold` expected tokens:
    /// the largest `j <= maximum` with `acceptance^j >= threshold`.
    func length(threshold: Double) -> Int {
        var count = 0
        var yield = 1.0
        while count < maximum {
            yield *= acceptance
            if yield < threshold { break }
            count += 1
        }
        return count
    }

    /// Proposals that make the most tokens per unit of step time when the sequence decodes
    /// alone and a window of `n` tokens takes `stepTimes[n - 1]` (any unit, increasing): the
    /// `p <= min(maximum, stepTimes.count - 1)` that maximises the expected tokens
    /// `1 + a + a² + … + a^p` over `stepTimes[p]`, the fewest on a tie.
    ///
    /// Why not `length(threshold:)` here: its rule, each proposal worth its own share of a
    /// step, ignores that the window's other tokens are worth more than a plain step's one,
    /// and a window's time is not a straight line in its size (on a 2-core Zen 3 the 6th and
    /// 9th tokens cost 0.4 of a one-token step, the others 0.2-0.3). Replayed on the speculative
    /// bench's 24 greedy outputs (bench/speculative_ceiling.py) with that machine's measured
    /// window times, this choice models a 3.4 % faster decode than the threshold's. O(maximum).
    func length(stepTimes: [Double]) -> Int {
        let limit = min(maximum, stepTimes.count - 1)
        guard limit > 0 else { return 0 }
        var best = 0
        var bestRate = 1 / stepTimes[0]
        var expected = 1.0
        var power = 1.0
        for p in 1...limit {
            power *= acceptance
            expected += power
            let rate = expected / stepTimes[p]
            if rate > bestRate {
                best = p
                bestRate = rate
            }
        }
        return best
    }

    /// Updates the estimate from a verification that kept `accepted` of `proposed`: each
    /// accepted proposal is a success, the first rejected one (if any) a failure; the rest
    /// were never judged.
    mutating func record(proposed: Int, accepted: Int) {
        for _ in 0..<accepted { acceptance += Self.learningRate * (1 - acceptance) }
        if accepted < proposed { acceptance -= Self.learningRate * acceptance }
    }

    /// A decode step without proposals: the estimate recovers towards the prior.
    mutating func recordPlainStep() {
        acceptance += Self.recovery * (Self.prior - acceptance)
    }
}
