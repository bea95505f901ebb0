import Testing

@testable import CanopyEngine

/// The swap-versus-recompute choice: by estimated seconds, with moving-average estimates.
@Suite("Preemption cost model")
struct PreemptionCostModelTests {
    @Test("swaps when moving the blocks twice is faster than recomputing the tokens")
    func swapWhenCheaper() {
        // 1 GB/s tier, 1000 tokens/s prefill: 1 MB out and back is 2 ms, 100 tokens 100 ms.
        let model = PreemptionCostModel(swapBytesPerSecond: 1e9, prefillTokensPerSecond: 1000)
        #expect(model.swapSeconds(bytes: 1_000_000) == 0.002)
        #expect(model.recomputeSeconds(tokens: 100) == 0.1)
        #expect(model.choose(swapBytes: 1_000_000, recomputeTokens: 100) == .swap)
    }

    @Test("recomputes when recomputing is faster, when costs tie, and when nothing would be freed")
    func recomputeWhenCheaper() {
        // 1 MB/s tier, 100k tokens/s prefill: 1 MB is 2 s, 100 tokens 1 ms.
        let slow = PreemptionCostModel(swapBytesPerSecond: 1e6, prefillTokensPerSecond: 1e5)
        #expect(slow.choose(swapBytes: 1_000_000, recomputeTokens: 100) == .recompute)
        let even = PreemptionCostModel(swapBytesPerSecond: 2e6, prefillTokensPerSecond: 100)
        #expect(even.choose(swapBytes: 1_000_000, recomputeTokens: 100) == .recompute, "1 s either way")
        #expect(even.choose(swapBytes: 999_000, recomputeTokens: 100) == .swap)
        #expect(even.choose(swapBytes: 0, recomputeTokens: 10_000) == .recompute)
    }

    @Test("the same sequence flips from recompute to swap as the measured rates change")
    func estimatesMove() {
        var model = PreemptionCostModel(swapBytesPerSecond: 1e6, prefillTokensPerSecond: 1e4)
        let bytes = 4 << 20, tokens = 256
        #expect(model.choose(swapBytes: bytes, recomputeTokens: tokens) == .recompute)
        // A fast tier measured a few times, and a slow prefill.
        for _ in 0..<20 {
            model.recordSwap(bytes: 1 << 30, seconds: 0.5)
            model.recordPrefill(tokens: 64, seconds: 0.5)
        }
        #expect(model.choose(swapBytes: bytes, recomputeTokens: tokens) == .swap)
    }

    @Test("each measurement moves an estimate by the smoothing weight; empty ones are ignored")
    func movingAverage() {
        var model = PreemptionCostModel(swapBytesPerSecond: 1000, prefillTokensPerSecond: 1000)
        model.recordSwap(bytes: 5000, seconds: 1)
        #expect(model.swapBytesPerSecond == 1000 + PreemptionCostModel.smoothing * 4000)
        model.recordPrefill(tokens: 0, seconds: 1)
        model.recordPrefill(tokens: 10, seconds: 0)
        model.recordSwap(bytes: 10, seconds: 0)
        #expect(model.prefillTokensPerSecond == 1000)
        #expect(model.swapBytesPerSecond == 1000 + PreemptionCostModel.smoothing * 4000)
    }

    @Test("until measured, the defaults recompute the default model's sequences")
    func conservativeDefaults() {
        // SmolLM2-135M, f16, 16-token blocks: 30 layers × 2 × 3 heads × 64 × 2 bytes per token.
        let bytesPerToken = 30 * 2 * 3 * 64 * 2
        let model = PreemptionCostModel()
        #expect(model.choose(swapBytes: 512 * bytesPerToken, recomputeTokens: 512) == .recompute)
    }
}
