import Testing

@testable import CanopyEngine

/// The measured share one more token adds to a decode step, which speculation weighs its
/// proposals against: the prior until measured, then the steps' own slope, fading back.
@Suite("Verification cost model")
struct VerificationCostModelTests {
    /// Records `rounds` steps of every size in `sizes` on the line `1 + slope (n - 1)` ms.
    static func record(_ model: inout VerificationCostModel, slope: Double, sizes: [Int], rounds: Int = 30) {
        for _ in 0..<rounds {
            for n in sizes { model.record(tokens: n, seconds: 0.001 * (1 + slope * Double(n - 1))) }
        }
    }

    @Test("answers the prior until one-token steps and some wider step were both measured")
    func priorFirst() {
        var model = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        #expect(model.cost == 0.3)
        Self.record(&model, slope: 0.6, sizes: [1])
        #expect(model.cost == 0.3, "one-token steps alone say nothing about the slope")
        var wide = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        Self.record(&wide, slope: 0.6, sizes: [4])
        #expect(wide.cost == 0.3, "nor do wider steps without a one-token step to compare with")
    }

    @Test("converges to the measured slope, whichever side of the prior it is on")
    func measuredSlope() {
        for slope in [0.1, 0.47, 0.9] {
            var model = VerificationCostModel(prior: 0.3, maximumTokens: 9)
            Self.record(&model, slope: slope, sizes: Array(1...9))
            // The prior weighs 8 two-token observations against 20 × Σ (n-1)² = 4080.
            #expect(abs(model.cost - slope) < 0.002 + abs(0.3 - slope) * 0.003, "slope \(slope): \(model.cost)")
        }
    }

    @Test("one wide window outweighs the prior; a single two-token step barely moves it")
    func weights() {
        var narrow = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        Self.record(&narrow, slope: 0.3, sizes: [1])
        narrow.record(tokens: 2, seconds: 0.001 * 1.9)  // one step says 0.9
        #expect(abs(narrow.cost - (8 * 0.3 + 1 * 0.9) / 9) < 1e-9)
        var wide = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        Self.record(&wide, slope: 0.5, sizes: [1, 9])
        // About 20 observations x 8² against the prior's 8: 0.5 - 0.2 x 8 / 1288 ≈ 0.4988.
        #expect(wide.cost < 0.5 && wide.cost > 0.498, "\(wide.cost)")
    }

    @Test("a busy spell fades: stale wide-window measurements lose their weight to the prior")
    func fades() {
        var model = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        Self.record(&model, slope: 2.0, sizes: [1, 5])  // measured while the machine was busy
        #expect(model.cost > 1.5)
        // Speculation then stops proposing: only one-token steps follow.
        Self.record(&model, slope: 0, sizes: [1], rounds: 3000)
        #expect(model.cost == 0.3)
    }

    @Test("ignores steps outside 1...maximumTokens and non-positive or non-finite times")
    func ignores() {
        var model = VerificationCostModel(prior: 0.3, maximumTokens: 4)
        Self.record(&model, slope: 0.5, sizes: [1])
        for bad in [(0, 0.001), (5, 0.01), (32, 0.1), (2, 0), (2, -1), (2, .nan), (2, .infinity)] {
            model.record(tokens: bad.0, seconds: bad.1)
        }
        #expect(model.cost == 0.3)
    }

    @Test("a prior of 0 (propose whatever there is) is never replaced")
    func zeroPrior() {
        var model = VerificationCostModel(prior: 0, maximumTokens: 9)
        Self.record(&model, slope: 0.8, sizes: Array(1...9))
        #expect(model.cost == 0)
    }
}
