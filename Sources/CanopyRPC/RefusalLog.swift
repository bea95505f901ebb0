import CanopyKernels
import Logging

/// Logs requests refused for capacity (RESOURCE_EXHAUSTED), or failed by the engine, without
/// letting a flood of them flood the log: the first is logged at once, later ones at most
/// once per `interval` with the number since the last line.
final class RefusalLog: Sendable {
    private struct State {
        var unlogged = 0
        var lastLine: ContinuousClock.Instant?
    }

    private let logger: Logger
    private let interval: Duration
    /// What happened to the requests, e.g. "refused (RESOURCE_EXHAUSTED)".
    private let outcome: String
    private let state = Locked(State())

    init(logger: Logger, interval: Duration = .seconds(1), outcome: String = "refused with RESOURCE_EXHAUSTED") {
        self.logger = logger
        self.interval = interval
        self.outcome = outcome
    }

    /// Records one refusal; `reason` is the message the client got.
    func record(_ reason: String) {
        let now = ContinuousClock.now
        let count: Int? = state.withLock { state in
            state.unlogged += 1
            if let last = state.lastLine, now - last < interval { return nil }
            defer { state.unlogged = 0 }
            state.lastLine = now
            return state.unlogged
        }
        guard let count else { return }
        logger.warning("\(count) request(s) \(outcome): \(reason)")
    }
}
