/// Failed reads of weights from the model file after load (streamed blocks, routed experts,
/// embedding rows), sorted by what they mean for later passes.
///
/// A read that fails while the file on disk is still the one loaded (an I/O error, an
/// injected fault) is *transient*: the pass that needed it fails, and the next read of the
/// same bytes is tried afresh. A read that fails after the file changed (truncated, rewritten,
/// replaced) is *permanent*: no later read can be trusted to return the loaded weights, so
/// every pass fails from then on (`ForwardError.weightsUnreadable`).
///
/// A value type kept by each reader under its own lock; a forward pass compares
/// ``transientCount`` before and after, as it does `KernelMemory.failureCount`.
struct ReadFailureLog: Sendable, Equatable {
    /// The first failure seen after the file changed on disk; then every pass must fail.
    private(set) var permanent: String?
    /// Transient failures since load. Monotonic.
    private(set) var transientCount: UInt64 = 0
    /// The latest transient failure's message.
    private(set) var lastTransient: String?

    /// Records a failed read: `reason` says what could not be read, `fileChange` how the file
    /// differs from the loaded one (nil: it does not).
    mutating func record(_ reason: String, fileChange: String?) {
        if let fileChange {
            if permanent == nil { permanent = "\(reason) (\(fileChange))" }
        } else {
            transientCount += 1
            lastTransient = reason
        }
    }

    /// Both readers' failures as one log (permanent: the first one's first).
    func merged(with other: ReadFailureLog) -> ReadFailureLog {
        var log = self
        log.permanent = permanent ?? other.permanent
        log.transientCount = transientCount + other.transientCount
        log.lastTransient = other.lastTransient ?? lastTransient
        return log
    }
}
