import Foundation
import Synchronization

/// What the service reports about the server itself: when it started and whether it is
/// draining. Shared between `CanopyServer` (which sets draining) and `CanopyService`.
public final class ServingState: Sendable {
    private let startedAt = ContinuousClock.now
    private let draining = Atomic<Bool>(false)

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
}
