import Dispatch
import Foundation

/// Runs a drain with a deadline: `drain` gets `gracePeriod` to finish, then `force` is called
/// and `drain` gets `forceTimeout` more to return.
///
/// `drain` is a blocking call (e.g. `{ server.beginShutdown(); engine.shutdown(drain: true) }`)
/// and runs on its own thread, so it never blocks Swift concurrency's cooperative pool.
/// `force` must make `drain` return promptly (e.g. `engine.shutdown(drain: false)`, which
/// cancels the running requests and lets the waiting `shutdown(drain: true)` return).
public struct GracefulShutdown: Sendable {
    /// How a shutdown ended.
    public enum Outcome: Sendable, Equatable {
        /// Everything finished within the grace period.
        case drained
        /// The grace period ran out; `force` ran and `drain` then returned.
        case forced
        /// Even after `force`, `drain` did not return within `forceTimeout`; exit anyway.
        case abandoned
    }

    /// How long running work may take to finish.
    public var gracePeriod: Duration
    /// How long `drain` may take to return after `force`.
    public var forceTimeout: Duration

    /// A shutdown with the given grace period (canopyd's default is 30 s; the service's
    /// `TimeoutStopSec=` must exceed `gracePeriod + forceTimeout`).
    public init(gracePeriod: Duration = .seconds(30), forceTimeout: Duration = .seconds(5)) {
        self.gracePeriod = gracePeriod
        self.forceTimeout = forceTimeout
    }

    /// Runs the shutdown, blocking the calling thread until it ends.
    public func run(drain: @escaping @Sendable () -> Void, force: @Sendable () -> Void) -> Outcome {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            drain()
            done.signal()
        }
        thread.name = "canopyd-drain"
        thread.start()
        if done.wait(timeout: .now() + Self.dispatchInterval(gracePeriod)) == .success { return .drained }
        force()
        return done.wait(timeout: .now() + Self.dispatchInterval(forceTimeout)) == .success ? .forced : .abandoned
    }

    /// Runs the shutdown from async code without blocking a cooperative thread.
    public func run(drain: @escaping @Sendable () -> Void, force: @escaping @Sendable () -> Void) async -> Outcome {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: self.run(drain: drain, force: force)) }
            thread.name = "canopyd-shutdown"
            thread.start()
        }
    }

    static func dispatchInterval(_ duration: Duration) -> DispatchTimeInterval {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(Int(clamping: seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }
}
