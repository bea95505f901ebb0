import CanopyKV
import CanopyKernels
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

    @Test("converges to the measured slope on either side of the prior, up to the cap")
    func measuredSlope() {
        for slope in [0.1, 0.47, 0.65] {
            var model = VerificationCostModel(prior: 0.3, maximumTokens: 9)
            Self.record(&model, slope: slope, sizes: Array(1...9))
            // The prior weighs 8 two-token observations against 20 × Σ (n-1)² = 4080.
            #expect(abs(model.cost - slope) < 0.002 + abs(0.3 - slope) * 0.003, "slope \(slope): \(model.cost)")
        }
    }

    @Test("never answers more than maximumCost, which is below a new sequence's acceptance")
    func capped() {
        #expect(VerificationCostModel.maximumCost < SpeculationState.prior)
        var model = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        Self.record(&model, slope: 2.0, sizes: Array(1...9))
        #expect(model.cost == VerificationCostModel.maximumCost)
        // A sequence that has not proposed yet still tries one proposal at one stream.
        let threshold = Scheduler.proposalThreshold(decodes: 1, cost: model.cost)
        #expect(SpeculationState(maximum: 8).length(threshold: threshold) >= 1)
        #expect(VerificationCostModel(prior: 5, maximumTokens: 9).cost == VerificationCostModel.maximumCost)
    }

    @Test("drops each size's first steps and counts a size only after a few more")
    func warmup() {
        var model = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        Self.record(&model, slope: 0.3, sizes: [1])
        // The first steps of a size grow buffers: however slow, they are not measured.
        for _ in 0..<StepTimeMeans.warmupSteps { model.record(tokens: 5, seconds: 1.0) }
        #expect(model.cost == 0.3)
        model.record(tokens: 5, seconds: 0.001 * (1 + 0.5 * 4))
        model.record(tokens: 5, seconds: 0.001 * (1 + 0.5 * 4))
        #expect(model.cost == 0.3, "two steps are fewer than minimumSteps")
        model.record(tokens: 5, seconds: 0.001 * (1 + 0.5 * 4))
        #expect(model.cost > 0.45 && model.cost < 0.5, "\(model.cost)")
    }

    @Test("one wide window outweighs the prior; a few two-token steps barely move it")
    func weights() {
        var narrow = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        Self.record(&narrow, slope: 0.3, sizes: [1])
        // Warm-up, then the fewest steps that count, each saying 0.9.
        let counted = StepTimeMeans.minimumSteps
        for _ in 0..<(StepTimeMeans.warmupSteps + counted) { narrow.record(tokens: 2, seconds: 0.001 * 1.9) }
        let weight = (0..<counted).reduce(0.0) { w, _ in w * StepTimeMeans.retention + 1 }
        #expect(abs(narrow.cost - (8 * 0.3 + weight * 0.9) / (8 + weight)) < 1e-9, "\(narrow.cost)")
        var wide = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        Self.record(&wide, slope: 0.5, sizes: [1, 9])
        // About 20 observations x 8² against the prior's 8: 0.5 - 0.2 x 8 / 1288 ≈ 0.4988.
        #expect(wide.cost < 0.5 && wide.cost > 0.498, "\(wide.cost)")
    }

    @Test("a busy spell fades: stale wide-window measurements lose their weight to the prior")
    func fades() {
        var model = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        Self.record(&model, slope: 0.68, sizes: [1, 5])  // measured while the machine was busy
        #expect(model.cost > 0.65)
        // Speculation then stops proposing: only one-token steps follow.
        Self.record(&model, slope: 0, sizes: [1], rounds: 3000)
        #expect(model.cost == 0.3)
    }

    @Test("ignores steps outside 1...maximumTokens and non-positive or non-finite times")
    func ignores() {
        var model = VerificationCostModel(prior: 0.3, maximumTokens: 4)
        Self.record(&model, slope: 0.5, sizes: [1])
        for _ in 0..<StepTimeMeans.warmupSteps { model.record(tokens: 2, seconds: 0.002) }
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

    /// Records `rounds` decode-only steps of several sequences at each (size, milliseconds).
    static func recordBatch(_ model: inout VerificationCostModel, _ steps: [(Int, Double)], rounds: Int = 30) {
        for _ in 0..<rounds {
            for (tokens, ms) in steps { model.recordBatch(tokens: tokens, seconds: ms / 1000) }
        }
    }

    @Test("prices a proposal beside several decodes at those steps' own measured times")
    func batchThreshold() {
        var model = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        Self.record(&model, slope: 0.3, sizes: Array(1...9))
        #expect(model.batchThreshold(decodes: 8) == nil, "no step of several sequences measured yet")
        // The shape measured on a 2-core Zen 3: 8 decodes 18 ms, one more token 2.5 ms.
        Self.recordBatch(&model, [(8, 18), (9, 20.5)])
        let threshold = try! #require(model.batchThreshold(decodes: 8))
        #expect(abs(threshold - 8 * 2.5 / 18) < 1e-9, "\(threshold)")
        #expect(model.batchThreshold(decodes: 7) == nil, "7 decodes were never measured")
        #expect(model.batchThreshold(decodes: 9) == nil, "10 tokens are beyond maximumTokens")
        // The windows' slope is untouched by steps of several sequences.
        #expect(abs(model.cost - 0.3) < 1e-9, "\(model.cost)")
        var off = VerificationCostModel(prior: 0, maximumTokens: 9)
        Self.recordBatch(&off, [(8, 18), (9, 20.5)])
        #expect(off.batchThreshold(decodes: 8) == nil, "a prior of 0 proposes whatever there is")
    }

    @Test("the scheduler asks a proposal beside several decodes for the higher of the line's and the measured price")
    func schedulerThreshold() {
        let layout = PagedKVLayout(blockSize: 16, layers: 1, kvHeads: 1, headDimension: 8, precision: .f16)
        let scheduler = Scheduler(
            kv: KVCacheManager(layout: layout, blockCount: 16, prefixCaching: false), maxBatchedTokens: 64,
            maxSequences: 16, contextLength: 256, speculativeStepTokens: 9, speculativeTokenCost: 0.3,
            drafter: nil, draftTokenCost: 0, maxDecodeStall: 0, costModel: PreemptionCostModel())
        Self.record(&scheduler.verificationCost, slope: 0.3, sizes: Array(1...9))
        let line8 = Scheduler.proposalThreshold(decodes: 8, cost: scheduler.verificationCost.cost)
        #expect(scheduler.stepProposalThreshold(decodes: 8) == line8, "unmeasured: the line")
        // Steps of 8 sequences where one more token costs 0.44 of a one-token step (2.5 of 5.7 ms):
        // no proposal, however often accepted, pays; the line alone (0.3) would have made them.
        Self.recordBatch(&scheduler.verificationCost, [(8, 18), (9, 20.5)])
        #expect(scheduler.stepProposalThreshold(decodes: 8) > 1)
        #expect(SpeculationState(maximum: 8).length(threshold: scheduler.stepProposalThreshold(decodes: 8)) == 0)
        #expect(SpeculationState(maximum: 8).length(threshold: line8) == 1)
        // Measured cheaper than the line: the line stands; one sequence alone: always the line.
        Self.recordBatch(&scheduler.verificationCost, [(4, 10), (5, 10.1)])
        let cost = scheduler.verificationCost.cost
        #expect(scheduler.stepProposalThreshold(decodes: 4) == Scheduler.proposalThreshold(decodes: 4, cost: cost))
        #expect(scheduler.stepProposalThreshold(decodes: 1) == Scheduler.proposalThreshold(decodes: 1, cost: cost))
    }

    @Test("window times: measured ratios where counted, the line elsewhere, capped, plus a draft's share")
    func windowTimes() {
        var model = VerificationCostModel(prior: 0.3, maximumTokens: 9)
        var times: [Double] = []
        model.windowTimes(into: &times)
        #expect(times.count == 9)
        for n in 0..<9 { #expect(abs(times[n] - (1 + 0.3 * Double(n))) < 1e-12, "unmeasured: the prior's line") }
        // One-token steps of 5 ms, 9-token windows of 19.5 ms (3.9 one-token steps).
        for _ in 0..<30 {
            model.record(tokens: 1, seconds: 0.005)
            model.record(tokens: 9, seconds: 0.0195)
        }
        model.windowTimes(into: &times, extraPerToken: 0.1)
        #expect(abs(times[8] - (3.9 + 0.8)) < 1e-9, "measured 9-token window, plus 8 draft tokens: \(times[8])")
        #expect(abs(times[3] - (1 + model.cost * 3 + 0.3)) < 1e-9, "unmeasured 4-token window: the blended line")
        #expect(times[0] == 1)
        // A window measured above the cap answers the cap.
        for _ in 0..<30 { model.record(tokens: 2, seconds: 0.0099) }  // 1.98 one-token steps
        model.windowTimes(into: &times)
        #expect(abs(times[1] - (1 + VerificationCostModel.maximumCost)) < 1e-9, "\(times[1])")
    }
}
