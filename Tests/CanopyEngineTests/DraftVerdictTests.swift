@testable import CanopyEngine
import Foundation
import Testing

/// The lossless rule, checked exactly rather than by sampling: for a draft distribution q
/// and a target p over a small vocabulary, the probability of each outcome — summed over
/// the proposal x ~ q, the acceptance draw u and the residual draw v (both integrated on a
/// fine midpoint grid) — must be p, in float64.
@Suite("Draft verdict")
struct DraftVerdictTests {
    /// P(token | proposal x) under the rule, integrating u and v on `grid` midpoints each.
    private func outcome(_ x: Int32, _ p: [Float], _ q: [Float], grid: Int) -> [Double] {
        var probability = [Double](repeating: 0, count: p.count)
        p.withUnsafeBufferPointer { p in
            q.withUnsafeBufferPointer { q in
                for a in 0..<grid {
                    let u = (Float(a) + 0.5) / Float(grid)
                    // Accepted or not depends on u only; the residual draw on v only.
                    let first = DraftVerdict.judge(proposal: x, target: p, draft: q, u: u, v: 0.5)
                    if first.accepted {
                        #expect(first.token == x)
                        probability[Int(x)] += 1 / Double(grid)
                        continue
                    }
                    for b in 0..<grid {
                        let v = (Float(b) + 0.5) / Float(grid)
                        let verdict = DraftVerdict.judge(proposal: x, target: p, draft: q, u: u, v: v)
                        #expect(!verdict.accepted && verdict.token != x, "a rejected proposal came back")
                        probability[Int(verdict.token)] += 1 / Double(grid * grid)
                    }
                }
            }
        }
        return probability
    }

    private func normalized(_ weights: [Float]) -> [Float] {
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }

    @Test func theOutcomeIsDistributedAsTheTarget() {
        var random = RandomStream(seed: 7)
        let cases: [([Float], [Float])] = [
            // Disjoint supports, equal distributions, a point-mass draft, and random pairs.
            (normalized([1, 2, 0, 0]), normalized([0, 0, 3, 1])),
            (normalized([1, 2, 3, 4]), normalized([1, 2, 3, 4])),
            (normalized([5, 1, 1, 1]), [0, 1, 0, 0]),
        ] + (0..<4).map { _ in
            (normalized((0..<6).map { _ in random.nextUnitFloat() }),
             normalized((0..<6).map { _ in random.nextUnitFloat() * random.nextUnitFloat() }))
        }
        for (p, q) in cases {
            var total = [Double](repeating: 0, count: p.count)
            for x in q.indices where q[x] > 0 {
                for (t, share) in outcome(Int32(x), p, q, grid: 400).enumerated() { total[t] += Double(q[x]) * share }
            }
            for t in p.indices {
                #expect(abs(total[t] - Double(p[t])) < 5e-3, "p \(p), q \(q): token \(t) has \(total[t]), not \(p[t])")
            }
        }
    }

    /// A proposal the target also gives more mass is always kept, and one it gives none never.
    @Test func acceptanceFollowsTheRatio() {
        let p: [Float] = [0.5, 0.5, 0], q: [Float] = [0.25, 0.25, 0.5]
        p.withUnsafeBufferPointer { p in
            q.withUnsafeBufferPointer { q in
                #expect(DraftVerdict.judge(proposal: 0, target: p, draft: q, u: 0.999, v: 0.3) == (0, true))
                let rejected = DraftVerdict.judge(proposal: 2, target: p, draft: q, u: 0, v: 0.3)
                #expect(!rejected.accepted && rejected.token != 2)
            }
        }
    }
}
