import CCanopyKernels

/// The working memory kernels take on a request path (per-thread scratch, attention
/// partials, forward-pass buffers) and what happens when it cannot be had.
///
/// Such memory grows with the batch, so it is allocated while serving. A kernel whose memory
/// cannot grow does not trap: it skips its work and counts the failure here. A forward pass
/// reads `failureCount` before and after and fails with an error when it moved, so skipped
/// work is never returned as a result and the process keeps serving.
public enum KernelMemory {
    /// Failed growths since the process started (all kernels, all threads). Monotonic.
    public static var failureCount: UInt64 { canopy_scratch_failures() }

    /// The size of the latest failed growth, in bytes (for error messages).
    public static var lastFailedBytes: Int { Int(clamping: canopy_scratch_failed_bytes()) }

    /// Fault injection for tests: from now on every growth above `bytes` fails as if memory
    /// were exhausted; nil lifts the limit. Process-wide: tests that set it run in a process
    /// of their own (see the Makefile's `test` target).
    public static func setGrowthLimit(_ bytes: Int?) {
        canopy_set_growth_limit(bytes.map { size_t(max(0, $0)) } ?? size_t.max)
    }

    /// Growths asked for since the process started (kernel scratch, activation buffers,
    /// attention partials; every thread). Monotonic.
    public static var growthCount: UInt64 { canopy_growth_count() }

    /// Fault injection for tests: the `n`-th growth from now (1-based) fails, once, as if
    /// memory were exhausted; nil disarms. With ``growthCount`` a test can fail each
    /// allocation of a request in turn. Process-wide, like ``setGrowthLimit(_:)``.
    public static func failGrowth(after n: Int?) {
        canopy_fail_growth_after(UInt64(max(0, n ?? 0)))
    }
}
