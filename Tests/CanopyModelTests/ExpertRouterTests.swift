import CanopyModel
import Foundation
import Testing

/// Routing rules checked against hand-computed values.
@Suite("Expert routing")
struct ExpertRouterTests {
    static func softmax(_ x: [Double]) -> [Double] {
        let m = x.max()!
        let e = x.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    @Test("Mixtral: softmax, top-k, renormalised")
    func mixtral() {
        let router = ExpertRouter(config: ExpertConfig(count: 4, usedCount: 2, feedForwardLength: 8, normalizesWeights: true))
        let logits: [Float] = [0.5, 2.0, -1.0, 1.0]
        let routed = router.route(logits)
        #expect(routed.map(\.expert) == [1, 3])
        // Renormalised softmax over the chosen two is a softmax over their logits alone.
        let p = Self.softmax([2.0, 1.0])
        #expect(abs(Double(routed[0].weight) - p[0]) < 1e-6)
        #expect(abs(Double(routed[1].weight) - p[1]) < 1e-6)
    }

    @Test("Qwen2-MoE: softmax over all experts, top-k, not renormalised")
    func qwen() {
        let router = ExpertRouter(config: ExpertConfig(count: 4, usedCount: 2, feedForwardLength: 8, normalizesWeights: false))
        let logits: [Float] = [0.5, 2.0, -1.0, 1.0]
        let routed = router.route(logits)
        let p = Self.softmax(logits.map(Double.init))
        #expect(routed.map(\.expert) == [1, 3])
        #expect(abs(Double(routed[0].weight) - p[1]) < 1e-6)
        #expect(abs(Double(routed[1].weight) - p[3]) < 1e-6)
        #expect(routed[0].weight + routed[1].weight < 0.9)
    }

    @Test("ties go to the lower expert index")
    func ties() {
        let router = ExpertRouter(config: ExpertConfig(count: 6, usedCount: 3, feedForwardLength: 8, normalizesWeights: true))
        #expect(router.route([1, 3, 3, 0, 3, 3]).map(\.expert) == [1, 2, 4])
        #expect(router.route([0, 0, 0, 0, 0, 0]).map(\.expert) == [0, 1, 2])
        let equal = router.route([0, 0, 0, 0, 0, 0]).map(\.weight)
        #expect(equal.allSatisfy { abs($0 - 1.0 / 3) < 1e-6 })
    }

    @Test("sigmoid gating and weight scale")
    func sigmoidAndScale() {
        let router = ExpertRouter(config: ExpertConfig(
            count: 3, usedCount: 1, feedForwardLength: 8, normalizesWeights: false, weightsScale: 2.5, gating: .sigmoid))
        let routed = router.route([-1, 0.25, 0.2])
        #expect(routed.map(\.expert) == [1])
        #expect(abs(Double(routed[0].weight) - 2.5 / (1 + Foundation.exp(-0.25))) < 1e-6)
    }

    @Test("softmax of the selected logits")
    func softmaxOfSelected() {
        let router = ExpertRouter(config: ExpertConfig(
            count: 4, usedCount: 2, feedForwardLength: 8, normalizesWeights: false, gating: .softmaxOfSelected))
        let routed = router.route([3, -2, 1, 0])
        let p = Self.softmax([3, 1])
        #expect(routed.map(\.expert) == [0, 2])
        #expect(abs(Double(routed[0].weight) - p[0]) < 1e-6 && abs(Double(routed[1].weight) - p[1]) < 1e-6)
    }
}
