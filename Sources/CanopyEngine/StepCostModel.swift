/// What one engine step costs, as a line through the measured steps:
/// `seconds ≈ fixed + perToken × tokens`, so that the scheduler can size a step's prefill
/// chunks to a latency target (`Scheduler`, `EngineConfig.maxDecodeStall`).
///
/// On a CPU every token of a step costs about the same arithmetic, whether it is a decode
/// or a prompt token; what differs is the fixed part (reading every weight once, the
/// threads' start and join), which dominates a step of a few tokens. The fit is an
/// exponentially weighted least-squares line over the forward passes the engine records,
/// so it follows the machine's drift and the contexts' growth.
///
/// Until two different step sizes have been seen the fixed part is taken to be 0 (every
/// token alike), the estimate that bounds steps most tightly.
struct StepCostModel {
    /// Weight a sample keeps after each newer one: about the last 50 steps count.
    static let retention = 0.98
    /// Weighted sums of 1, tokens, seconds, tokens², tokens × seconds.
    private var weight = 0.0
    private var sumTokens = 0.0
    private var sumSeconds = 0.0
    private var sumTokens2 = 0.0
    private var sumTokensSeconds = 0.0

    /// The fitted line's fixed part in seconds and its slope in seconds per token; both ≥ 0,
    /// nil before any step was recorded. The weighted least-squares line, or the line through
    /// the origin while the recorded step sizes (nearly) all agree or the fit comes out with a
    /// negative slope or intercept (noise). O(1).
    var line: (fixed: Double, perToken: Double)? {
        guard weight > 0, sumTokens > 0 else { return nil }
        let meanTokens = sumTokens / weight
        let variance = sumTokens2 / weight - meanTokens * meanTokens
        if variance > 1e-6 * max(1, meanTokens * meanTokens) {
            let slope = (sumTokensSeconds / weight - meanTokens * sumSeconds / weight) / variance
            let intercept = sumSeconds / weight - slope * meanTokens
            if slope > 0, intercept >= 0 { return (intercept, slope) }
        }
        return (0, sumSeconds / sumTokens)
    }

    /// Folds in one forward pass of `tokens` tokens that took `seconds`; ignored when either
    /// is not positive. O(1).
    mutating func record(tokens: Int, seconds: Double) {
        guard tokens > 0, seconds > 0, seconds.isFinite else { return }
        let x = Double(tokens)
        weight = weight * Self.retention + 1
        sumTokens = sumTokens * Self.retention + x
        sumSeconds = sumSeconds * Self.retention + seconds
        sumTokens2 = sumTokens2 * Self.retention + x * x
        sumTokensSeconds = sumTokensSeconds * Self.retention + x * seconds
    }

    /// The fixed part of a step in token equivalents (`fixed / perToken`): how many tokens
    /// cost what a step's fixed part costs. 0 until measured.
    var fixedTokens: Double {
        guard let line, line.perToken > 0 else { return 0 }
        return line.fixed / line.perToken
    }

    /// Estimated seconds of a step of `tokens` tokens; nil before any step was recorded.
    func seconds(tokens: Int) -> Double? {
        line.map { $0.fixed + $0.perToken * Double(tokens) }
    }

    /// Most tokens a step carrying `decodes` decodes may run so that it takes at most
    /// `stall` times what those decodes alone take: from `fixed + perToken × T ≤
    /// stall × (fixed + perToken × decodes)`, T = stall × decodes + (stall − 1) × fixedTokens.
    /// At least `decodes`.
    func stepTokenLimit(decodes: Int, stall: Double) -> Int {
        let limit = stall * Double(decodes) + (stall - 1) * fixedTokens
        guard limit.isFinite, limit < Double(Int32.max) else { return Int(Int32.max) }
        return max(decodes, Int(limit.rounded(.down)))
    }
}
