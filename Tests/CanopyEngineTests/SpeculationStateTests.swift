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
