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
///
/// A copied proposal (n-gram) also says how long its copy has held: the `matched` tokens
/// before it that equal the context's end. The `j`-th proposal (from 0) then counts as
/// accepted with probability at most `1 − 1 / (matched + j)` (`copyAcceptance`): a copy that
/// has held for 2 tokens goes on about half the time, one that has held for 20 almost always.
/// On the speculative bench's 24 greedy outputs the first proposal after a match of 2 tokens
/// was right 59 % of the time, of 3: 66 %, 4: 78 %, 6: 87 %, 8: 90 %, 12 or more: 97 %, where
/// the sequence's one estimate saw their mean. Replayed there (bench/speculative_ceiling.py,
/// the window times of a 2-core Xeon), sizing windows by the smaller of the two modelled
/// 1.37x instead of 1.34x; by the match alone 1.38x, but a sequence whose copies keep failing
/// (sampled text) needs its own estimate to back off.
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

    /// The chance that proposal `j` (from 0) of a copy whose match has held for `matched`
    /// tokens is accepted, given the ones before it were: `1 − 1 / (matched + j)`, never
    /// below 0.
    static func copyAcceptance(matched: Int, proposal j: Int) -> Double {
        max(0, 1 - 1 / Double(max(1, matched + j)))
    }

    /// The chance that proposal `j` (from 0) is accepted, given the ones before it were:
    /// `acceptance`, or for a copy (`matched` not nil) the smaller of it and
    /// `copyAcceptance(matched:proposal:)`.
    func acceptance(ofProposal j: Int, matched: Int?) -> Double {
        guard let matched else { return acceptance }
        return min(acceptance, Self.copyAcceptance(matched: matched, proposal: j))
    }

    /// Proposals worth making when each must yield at least `threshold` expected tokens:
    /// the largest `j <= maximum` whose yield, the product of the acceptances of proposals
    /// 0..<j (`acceptance(ofProposal:matched:)`), is at least `threshold`.
    func length(threshold: Double, matched: Int? = nil) -> Int {
        var count = 0
        var yield = 1.0
        while count < maximum {
            yield *= acceptance(ofProposal: count, matched: matched)
            if yield < threshold { break }
            count += 1
        }
        return count
    }

    /// Proposals that make the most tokens per unit of step time when the sequence decodes
    /// alone and a window of `n` tokens takes `stepTimes[n - 1]` (any unit, increasing): the
    /// `p <= min(maximum, stepTimes.count - 1)` that maximises the expected tokens
    /// `1 + a₀ + a₀a₁ + … + a₀⋯a_{p−1}` over `stepTimes[p]`, the fewest on a tie (`a_j`:
    /// `acceptance(ofProposal: j, matched: matched)`).
    ///
    /// Why not `length(threshold:)` here: its rule, each proposal worth its own share of a
    /// step, ignores that the window's other tokens are worth more than a plain step's one,
    /// and a window's time is not a straight line in its size (on a 2-core Zen 3 the 6th and
    /// 9th tokens cost 0.4 of a one-token step, the others 0.2-0.3). Replayed on the speculative
    /// bench's 24 greedy outputs (bench/speculative_ceiling.py) with that machine's measured
    /// window times, this choice models a 3.4 % faster decode than the threshold's. O(maximum).
    func length(stepTimes: [Double], matched: Int? = nil) -> Int {
        let limit = min(maximum, stepTimes.count - 1)
        guard limit > 0 else { return 0 }
        var best = 0
        var bestRate = 1 / stepTimes[0]
        var expected = 1.0
        var power = 1.0
        for p in 1...limit {
            power *= acceptance(ofProposal: p - 1, matched: matched)
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
