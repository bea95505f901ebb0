import CanopyKernels
import Foundation
import Synchronization

/// What the service reports about the server itself: when it started and whether it is
/// draining. Shared between `CanopyServer` (which sets draining) and `CanopyService`.
public final class ServingState: Sendable {
    private let startedAt = ContinuousClock.now
    private let draining = Atomic<Bool>(false)
    private let failure = Locked<String?>(nil)

    /// Starts the uptime clock now, serving.
    public init() {}

    /// Seconds since this state was created.
    public var uptimeSeconds: Double {
        let elapsed = ContinuousClock.now - startedAt
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    /// Whether shutdown has begun.
    public var isDraining: Bool { draining.load(ordering: .acquiring) }

    /// Marks the server as shutting down; `Health` then reports DRAINING.
    public func beginDraining() { draining.store(true, ordering: .releasing) }

    /// Why the server cannot take requests until it is restarted, or nil while it can.
    public var failureReason: String? { failure.withLock { $0 } }

    /// Marks the server as unable to take requests until restarted (the first reason given
    /// is kept): `Health` reports NOT_SERVING with `reason`, new `Generate` calls are refused
    /// with UNAVAILABLE, and running ones finish.
    public func fail(_ reason: String) { failure.withLock { $0 = $0 ?? reason } }

    /// What the server reports about itself (gRPC `Health`, HTTP `/health`).
    public enum Condition: Sendable, Equatable {
        case serving
        case draining
        /// Failed until restarted; a failure outranks draining.
        case notServing(reason: String)
    }

    /// The server's condition now.
    public var condition: Condition {
        if let reason = failureReason { return .notServing(reason: reason) }
        return isDraining ? .draining : .serving
    }

    /// What a new generation is refused with while the server has failed; nil otherwise.
    /// Both interfaces answer with it (gRPC UNAVAILABLE, HTTP 503).
    public var failureRefusal: String? {
        failureReason.map { "canopyd takes no requests until it is restarted: \($0)" }
    }
}
