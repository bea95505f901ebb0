import GRPCCore

/// The gRPC method descriptors of `canopy.v1.Canopy`, shared by server and client.
public enum CanopyMethods {
    /// The service.
    public static let service = ServiceDescriptor(fullyQualifiedService: CanopyV1.serviceName)
    /// Server-streaming generation.
    public static let generate = MethodDescriptor(service: service, method: "Generate")
    /// Text to token ids.
    public static let tokenize = MethodDescriptor(service: service, method: "Tokenize")
    /// Token ids to text.
    public static let detokenize = MethodDescriptor(service: service, method: "Detokenize")
    /// Liveness and readiness.
    public static let health = MethodDescriptor(service: service, method: "Health")
    /// Model and engine description.
    public static let info = MethodDescriptor(service: service, method: "Info")
    /// Engine metrics.
    public static let stats = MethodDescriptor(service: service, method: "Stats")
}
