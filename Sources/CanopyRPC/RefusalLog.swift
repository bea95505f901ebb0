import Logging
import Synchronization

/// Logs requests refused for capacity (RESOURCE_EXHAUSTED) without letting a flood of them
/// flood the log: the first refusal is logged at once, later ones at most once per
/// `interval` with the number refused since the last line.
final class RefusalLog: Sendable {
    private struct State {
        var unlogged = 0
        var lastLine: ContinuousClock.Instant?
    }

    private let logger: Logger
    private let interval: Duration
    private let state = Mutex(State())

    init(logger: Logger, interval: Duration = .seconds(1)) {
        self.logger = logger
        self.interval = interval
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
        logger.warning("refused \(count) request(s) with RESOURCE_EXHAUSTED: \(reason)")
    }
}
