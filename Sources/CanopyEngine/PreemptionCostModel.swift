/// How a preempted sequence gives back its KV blocks.
enum PreemptionMode: Equatable {
    /// Write its blocks to the swap tier and read them back when it resumes.
    case swap
    /// Free its blocks and run all its tokens through the model again when it resumes.
    case recompute
}

/// Chooses between swapping and recomputing a preempted sequence by estimated time, as
/// vLLM's preemption modes trade the same costs: swapping moves its blocks twice (written
/// now, read back on resume) at the swap tier's bandwidth; recomputing runs its computed
/// tokens through the model again at the prefill rate.
///
/// Both rates are exponentially weighted moving averages fed by the engine: the swap rate
/// by every swap-out and swap-in (and a probe when the tier is created), the prefill rate by
/// every step that ran a prompt chunk. They start from conservative defaults: a slow disk
/// and a fast prefill, so that until measured the model leans towards recomputing.
///
/// Deliberately simple: the recompute estimate counts every computed token, though on
/// resume the prefix cache may serve some of them (so it can favour swapping a sequence
/// whose prompt is cached), and one rate stands for the tier's writes and reads alike.
struct PreemptionCostModel: Equatable {
    /// Estimated swap tier throughput, bytes per second.
    private(set) var swapBytesPerSecond: Double
    /// Estimated prefill throughput, tokens per second.
    private(set) var prefillTokensPerSecond: Double

    /// Weight of a new measurement in the moving averages.
    static let smoothing = 0.25
    /// Default swap throughput: a slow disk, 100 MB/s.
    static let defaultSwapBytesPerSecond = 100e6
    /// Default prefill rate: 5000 tokens per second.
    static let defaultPrefillTokensPerSecond = 5000.0

    init(
        swapBytesPerSecond: Double = defaultSwapBytesPerSecond,
        prefillTokensPerSecond: Double = defaultPrefillTokensPerSecond
    ) {
        precondition(swapBytesPerSecond > 0 && prefillTokensPerSecond > 0, "rates must be positive")
        self.swapBytesPerSecond = swapBytesPerSecond
        self.prefillTokensPerSecond = prefillTokensPerSecond
    }

    /// Estimated seconds to swap out and later back in `bytes` of blocks.
    func swapSeconds(bytes: Int) -> Double { Double(2 * bytes) / swapBytesPerSecond }

    /// Estimated seconds to recompute `tokens` tokens.
    func recomputeSeconds(tokens: Int) -> Double { Double(tokens) / prefillTokensPerSecond }

    /// `.swap` when swapping `swapBytes` (> 0: something to free) is estimated to take less
    /// time than recomputing `recomputeTokens`; otherwise `.recompute`.
    func choose(swapBytes: Int, recomputeTokens: Int) -> PreemptionMode {
        guard swapBytes > 0 else { return .recompute }
        return swapSeconds(bytes: swapBytes) < recomputeSeconds(tokens: recomputeTokens) ? .swap : .recompute
    }

    /// Folds in one swap transfer of `bytes` that took `seconds`; ignored when either is 0.
    mutating func recordSwap(bytes: Int, seconds: Double) {
        guard bytes > 0, seconds > 0 else { return }
        swapBytesPerSecond = Self.blend(swapBytesPerSecond, Double(bytes) / seconds)
    }

    /// Folds in one forward pass of `tokens` tokens that took `seconds`; ignored when either
    /// is 0.
    mutating func recordPrefill(tokens: Int, seconds: Double) {
        guard tokens > 0, seconds > 0 else { return }
        prefillTokensPerSecond = Self.blend(prefillTokensPerSecond, Double(tokens) / seconds)
    }

    private static func blend(_ old: Double, _ sample: Double) -> Double {
        old + smoothing * (sample - old)
    }
}
