import CanopyKernels
import Dispatch
import Foundation

/// Sends `WATCHDOG=1` every `WATCHDOG_USEC / 2` while the service is healthy.
///
/// systemd sets `$WATCHDOG_USEC` when the unit has `WatchdogSec=`, and `$WATCHDOG_PID` to the
/// pid that must ping (when set and not ours, e.g. in a child, the watchdog is not ours).
/// Pinging at half the timeout leaves one missed tick of slack. The optional health check
/// lets the daemon stop pinging when its engine thread is wedged, so systemd restarts it.
///
/// Start it before loading the model: systemd arms the watchdog when the service starts, not
/// at `READY=1`, so a load longer than `WatchdogSec=` would otherwise be killed.
public final class WatchdogPinger: Sendable {
    /// The time between pings.
    public let interval: Duration
    private let notifier: SystemdNotifier
    private let isHealthy: @Sendable () -> Bool
    private let timer: Locked<TimerBox?> = Locked(nil)

    /// The ping interval systemd asks for in `environment`, or `nil` when the watchdog is off
    /// or belongs to another process.
    public static func interval(
        environment: [String: String] = ProcessInfo.processInfo.environment, pid: pid_t = getpid()
    ) throws(DaemonError) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], !text.isEmpty else { return nil }
        guard let usec = UInt64(text), usec > 0 else {
            throw .invalidEnvironment(variable: "WATCHDOG_USEC", value: text, reason: "not a positive integer")
        }
        if let pidText = environment["WATCHDOG_PID"], !pidText.isEmpty {
            guard let owner = pid_t(pidText), owner > 0 else {
                throw .invalidEnvironment(variable: "WATCHDOG_PID", value: pidText, reason: "not a pid")
            }
            if owner != pid { return nil }
        }
        return .microseconds(Int64(clamping: usec / 2))
    }

    /// A pinger for the environment's watchdog, or `nil` when none is requested.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        isHealthy: @escaping @Sendable () -> Bool = { true }
    ) throws(DaemonError) -> WatchdogPinger? {
        guard let interval = try interval(environment: environment) else { return nil }
        return WatchdogPinger(interval: interval, notifier: SystemdNotifier(environment: environment), isHealthy: isHealthy)
    }

    /// A pinger sending through `notifier` every `interval` while `isHealthy()` holds.
    public init(interval: Duration, notifier: SystemdNotifier, isHealthy: @escaping @Sendable () -> Bool = { true }) {
        precondition(interval > .zero, "watchdog interval must be positive")
        self.interval = interval
        self.notifier = notifier
        self.isHealthy = isHealthy
    }

    deinit { stop() }

    /// Starts pinging (the first ping is immediate). Calling it again has no effect.
    public func start() {
        timer.withLock { box in
            guard box == nil else { return }
            let source = DispatchSource.makeTimerSource(queue: DispatchQueue.global(qos: .utility))
            let (seconds, attoseconds) = interval.components
            let nanoseconds = Int(clamping: seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            source.schedule(deadline: .now(), repeating: .nanoseconds(nanoseconds), leeway: .milliseconds(10))
            let notifier = notifier, isHealthy = isHealthy
            source.setEventHandler {
                // A failed ping is not fatal: systemd acts on the missing pings itself.
                if isHealthy() { _ = try? notifier.watchdog() }
            }
            source.resume()
            box = TimerBox(source: source)
        }
    }

    /// Stops pinging. Safe to call more than once.
    public func stop() {
        timer.withLock { box in
            box?.source.cancel()
            box = nil
        }
    }

    /// `@unchecked Sendable` is sound: the source is only touched under `timer`'s lock, and
    /// `DispatchSourceTimer` methods are themselves thread-safe.
    private struct TimerBox: @unchecked Sendable {
        let source: any DispatchSourceTimer
    }
}
