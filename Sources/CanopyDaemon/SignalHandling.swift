import CanopyKernels
import Dispatch
import Foundation
import Logging

/// Turns SIGTERM/SIGINT (and SIGUSR2: mpirun forwards it to every rank of a tensor-parallel
/// job without ending the job, as it does SIGTERM) into an orderly shutdown: the first one calls `onDrain` (stop
/// accepting, let running requests finish), a second one calls `onForce` (stop now).
/// SIGHUP is logged and ignored (there is no live reload; restart to apply a new config), and
/// SIGPIPE is ignored so a client hanging up mid-write is an error return, not a kill.
///
/// The signals are set to `SIG_IGN` before the dispatch sources start: otherwise the default
/// action (terminate) would run instead of the handler. Each callback runs on a private
/// serial queue, at most once.
public final class SignalHandling: Sendable {
    /// The signals that request shutdown.
    public static let shutdownSignals: [Int32] = [SIGTERM, SIGINT, SIGUSR2]

    private let logger: Logger
    private let onDrain: @Sendable (Int32) -> Void
    private let onForce: @Sendable (Int32) -> Void
    private let queue = DispatchQueue(label: "canopyd.signals")
    private let state = Locked(State())

    private struct State {
        var received = 0
        var sources: [SourceBox] = []
    }

    /// `@unchecked Sendable` is sound: sources are created, resumed and cancelled only under
    /// `state`'s lock, and dispatch sources are thread-safe.
    private struct SourceBox: @unchecked Sendable {
        let signal: Int32
        let source: any DispatchSourceSignal
    }

    /// Handlers for the first shutdown signal (`onDrain`) and the second (`onForce`); both
    /// receive the signal number.
    public init(
        logger: Logger, onDrain: @escaping @Sendable (Int32) -> Void, onForce: @escaping @Sendable (Int32) -> Void
    ) {
        self.logger = logger
        self.onDrain = onDrain
        self.onForce = onForce
    }

    /// Starts handling the signals. Calling it twice has no effect.
    public func install() {
        state.withLock { state in
            guard state.sources.isEmpty else { return }
            signal(SIGPIPE, SIG_IGN)
            for number in Self.shutdownSignals + [SIGHUP] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { [weak self] in self?.handle(number) }
                source.resume()
                state.sources.append(SourceBox(signal: number, source: source))
            }
        }
    }

    /// Stops handling and restores the default dispositions.
    public func uninstall() {
        state.withLock { state in
            for box in state.sources {
                box.source.cancel()
                signal(box.signal, SIG_DFL)
            }
            state.sources.removeAll()
        }
    }

    /// How many shutdown signals have arrived.
    public var shutdownSignalsReceived: Int { state.withLock { $0.received } }

    private func handle(_ number: Int32) {
        let name = Self.name(of: number)
        if number == SIGHUP {
            logger.notice("received \(name); ignored: canopyd has no live reload, restart the service to apply configuration changes")
            return
        }
        let count = state.withLock { state -> Int in
            state.received += 1
            return state.received
        }
        switch count {
        case 1:
            logger.notice("received \(name): draining (no new requests; running ones may finish); send it again to stop immediately")
            onDrain(number)
        case 2:
            logger.warning("received \(name) again: stopping immediately, cancelling running requests")
            onForce(number)
        default:
            break
        }
    }

    /// `SIGTERM`, `SIGINT`, ... for log lines.
    public static func name(of number: Int32) -> String {
        switch number {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGUSR2: return "SIGUSR2"
        case SIGHUP: return "SIGHUP"
        case SIGPIPE: return "SIGPIPE"
        default: return "signal \(number)"
        }
    }
}
