import CCanopyProto

/// Swift value types for the messages of the `canopy.v1` protocol
/// (`Protos/canopy/v1/canopy.proto`). Field names follow the proto in Swift casing; proto
/// presence (`oneof optional_*`) maps to Swift optionals, absent sub-messages to defaults.
public enum CanopyV1 {
    /// The fully qualified gRPC service name.
    public static let serviceName = "canopy.v1.Canopy"

    /// Why generation of a sample ended (`canopy.v1.FinishReason`).
    public enum FinishReason: Int32, Sendable, Equatable, CaseIterable {
        /// Not set (an unknown value from a newer peer also reads as this).
        case unspecified = 0
        /// End-of-generation token, stop token id or stop string.
        case stop = 1
        /// `max_tokens` or the context end.
        case length = 2
        /// Cancelled by the client or the server's shutdown.
        case cancelled = 3

        init(c: Canopy__V1__FinishReason) {
            self = FinishReason(rawValue: Int32(bitPattern: UInt32(truncatingIfNeeded: c.rawValue))) ?? .unspecified
        }

        var c: Canopy__V1__FinishReason {
            Canopy__V1__FinishReason(rawValue: .init(truncatingIfNeeded: rawValue))
        }
    }

    /// Whether the server takes new requests (`canopy.v1.ServingStatus`).
    public enum ServingStatus: Int32, Sendable, Equatable, CaseIterable {
        /// Not set (an unknown value from a newer peer also reads as this).
        case unspecified = 0
        /// Accepting requests.
        case serving = 1
        /// Shutting down: running requests finish, new ones are refused.
        case draining = 2
        /// Cannot take requests until restarted (`HealthResponse.reason` says why); running
        /// requests finish.
        case notServing = 3

        init(c: Canopy__V1__ServingStatus) {
            self = ServingStatus(rawValue: Int32(bitPattern: UInt32(truncatingIfNeeded: c.rawValue))) ?? .unspecified
        }

        var c: Canopy__V1__ServingStatus {
            Canopy__V1__ServingStatus(rawValue: .init(truncatingIfNeeded: rawValue))
        }
    }
}
