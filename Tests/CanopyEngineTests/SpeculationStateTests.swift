import Foundation
import Testing

@testable import CanopyEngine

/// How many tokens a sequence proposes: beside other decodes, while each proposal's expected
/// yield clears the step's threshold; alone, the length that makes the most expected tokens per
/// unit of the window's measured time.
@Suite("Speculation state")
struct SpeculationStateTests {
    /// A state whose acceptance estimate has been driven to about `a` by verifications.
    static func state(acceptance a: Double, maximum: Int = 8) -> SpeculationState {
        var state = SpeculationState(maximum: maximum)
        for _ in 0..<200 {
            if state.acceptance < a { state.record(proposed: 1, accepted: 1) } else { state.record(proposed: 1, accepted: 0) }
            if abs(state.acceptance - a) < 0.02 { break }
        }
        return state
    }

    /// Expected tokens of a window with `p` proposals at acceptance `a`, over its time.
    static func rate(_ p: Int, _ a: Double, _ times: [Double]) -> Double {
        (0...p).reduce(0.0) { $0 + pow(a, Double($1)) } / times[p]
    }

    @Test("alone: the chosen length makes at least as many expected tokens per unit of time as any other")
    func bestRate() {
        let lines = [0.1, 0.29, 0.5, 0.69].map { c in (0...8).map { 1 + c * Double($0) } }
        let convex = [1.00, 1.21, 1.45, 1.68, 1.95, 2.34, 2.62, 2.93, 3.35]  // a 2-core Zen 3's windows
        for times in lines + [convex] {
            for a in [0.3, 0.6, 0.8, 0.95] {
                let state = Self.state(acceptance: a)
                let p = state.length(stepTimes: times)
                let best = (0...8).map { Self.rate($0, state.acceptance, times) }
                #expect(best.allSatisfy { $0 <= best[p] + 1e-12 }, "a \(state.acceptance), times \(times): \(p)")
                #expect(!(0..<p).contains { best[$0] >= best[p] }, "the fewest proposals on a tie")
            }
        }
    }

    @Test("alone: a costly last token shortens the window, free tokens fill it, dear ones empty it")
    func shapes() {
        let state = Self.state(acceptance: 0.95)
        let line = (0...8).map { 1 + 0.2 * Double($0) }
        #expect(state.length(stepTimes: line) == 8)
        var jump = line
        jump[8] = 4.0  // the 9th token costs 1.6 one-token steps
        #expect(state.length(stepTimes: jump) == 7)
        #expect(state.length(stepTimes: [Double](repeating: 1, count: 9)) == 8)
        #expect(state.length(stepTimes: (0...8).map { 1 + Double($0) }) == 0, "each token as dear as a step: never")
        #expect(SpeculationState(maximum: 3).length(stepTimes: line) == 3, "at most `maximum`")
        #expect(state.length(stepTimes: Array(line.prefix(3))) == 2, "at most the sizes given")
        #expect(SpeculationState(maximum: 0).length(stepTimes: line) == 0)
    }

    @Test("a copy's match length caps each proposal's acceptance at 1 - 1/(matched + j)")
    func matchedCopies() {
        #expect(SpeculationState.copyAcceptance(matched: 2, proposal: 0) == 0.5)
        #expect(SpeculationState.copyAcceptance(matched: 2, proposal: 2) == 0.75)
        #expect(SpeculationState.copyAcceptance(matched: 1, proposal: 0) == 0, "a 1-token match alone is no evidence")
        let confident = Self.state(acceptance: 0.95)
        let line = (0...8).map { 1 + 0.38 * Double($0) }
        let unmatched = confident.length(stepTimes: line)
        #expect(unmatched >= 4)
        #expect(confident.length(stepTimes: line, matched: 60) == unmatched, "a long match keeps the estimate")
        let short = confident.length(stepTimes: line, matched: 2)
        #expect(short < unmatched, "a 2-token match is a worse bet than the estimate says")
        // The choice is the best rate under the capped acceptances.
        let rates = (0...8).map { p in
            (0...p).reduce(0.0) { sum, k in
                sum + (0..<k).reduce(1.0) { $0 * confident.acceptance(ofProposal: $1, matched: 2) }
            } / line[p]
        }
        #expect(rates.allSatisfy { $0 <= rates[short] + 1e-12 })
        // A sequence whose proposals keep failing backs off however long the match.
        let doubtful = Self.state(acceptance: 0.3)
        #expect(doubtful.length(stepTimes: line, matched: 60) == doubtful.length(stepTimes: line))
        #expect(doubtful.acceptance(ofProposal: 0, matched: 60) == doubtful.acceptance)
        // Beside other decodes the same acceptances meet the threshold.
        #expect(confident.length(threshold: 0.6, matched: 2) == 0, "0.5 < 0.6")
        #expect(confident.length(threshold: 0.4, matched: 2) == 1, "0.5, then 0.5 × 0.67 = 0.33 < 0.4")
        #expect(confident.length(threshold: 0.3, matched: 2) == 2, "0.33, then 0.33 × 0.75 = 0.25 < 0.3")
        #expect(confident.length(threshold: 0.4) > 2)
    }

    @Test("a new sequence's first proposal pays at the highest window cost the engine answers")
    func newSequenceProposes() {
        var model = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        for _ in 0..<30 {
            for n in 1...9 { model.record(tokens: n, seconds: 0.001 * (1 + 2.0 * Double(n - 1))) }  // a very busy spell
        }
        var times: [Double] = []
        model.windowTimes(into: &times)
        #expect(SpeculationState(maximum: 8).length(stepTimes: times) >= 1)
    }
}
