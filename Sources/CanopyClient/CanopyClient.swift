// Callers see the protocol types with the client: `import CanopyClient` is enough.
@_exported import CanopyWire
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// A client of `canopy.v1.Canopy` over a Unix domain socket, speaking protobuf-c messages.
///
/// Use `CanopyClient.withClient(socketPath:)`, which runs the connection for the body's
/// duration; or call `runConnections()` in a task yourself and `close()` when done.
/// Failed calls throw `RPCError` with the server's status code and message.
public final class CanopyClient: Sendable {
    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let maxMessageBytes: Int

    /// Creates a client for the server at `socketPath` (nothing connects until
    /// `runConnections()`).
    public init(socketPath: String, maxMessageBytes: Int = ProtobufCCodec.defaultMaxMessageBytes) throws {
        let transport = try HTTP2ClientTransport.Posix(
            target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext,
            eventLoopGroup: EventLoopTaskExecutor.shared.group)
        client = GRPCClient(transport: transport)
        self.maxMessageBytes = maxMessageBytes
    }

    /// The executor on the connection's I/O thread. Calls made from tasks that prefer it
    /// (`withTaskExecutorPreference(CanopyClient.executor)`) cross no thread between the
    /// socket and the caller; `withClient` runs its body so.
    public static var executor: EventLoopTaskExecutor { EventLoopTaskExecutor.shared.executor }

    /// Runs a client for the body's duration, then closes it. The body runs on the
    /// connection's I/O thread (see `executor`): it should not block it with long CPU work.
    public static func withClient<Result: Sendable>(
        socketPath: String, maxMessageBytes: Int = ProtobufCCodec.defaultMaxMessageBytes,
        _ body: (CanopyClient) async throws -> Result
    ) async throws -> Result {
        let client = try CanopyClient(socketPath: socketPath, maxMessageBytes: maxMessageBytes)
        return try await withTaskExecutorPreference(executor) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.runConnections() }
                defer { client.close() }
                let result = try await body(client)
                client.close()
                try await group.waitForAll()
                return result
            }
        }
    }

    /// Maintains the connection; returns after `close()` once in-flight calls finish.
    public func runConnections() async throws {
        try await client.runConnections()
    }

    /// Stops accepting new calls; in-flight calls finish.
    public func close() {
        client.beginGracefulShutdown()
    }

    /// Streams a generation: `onEvent` sees every event in order; returns the summary.
    ///
    /// - Throws: `RPCError` from the server (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...), or
    ///   an error thrown by `onEvent` (which cancels the call, and so the request).
    @discardableResult
    public func generate(
        _ request: CanopyV1.GenerateRequest,
        onEvent: @escaping @Sendable (CanopyV1.GenerateEvent) async throws -> Void = { _ in }
    ) async throws -> CanopyV1.GenerateSummary {
        try await client.serverStreaming(
            request: ClientRequest(message: request), descriptor: CanopyMethods.generate,
            serializer: ProtobufCSerializer<CanopyV1.GenerateRequest>(maxMessageBytes: maxMessageBytes),
            deserializer: ProtobufCDeserializer<CanopyV1.GenerateEvent>(maxMessageBytes: maxMessageBytes),
            options: .defaults
        ) { response in
            var summary: CanopyV1.GenerateSummary?
            for try await event in response.messages {
                try await onEvent(event)
                if case .summary(let s) = event { summary = s }
            }
            guard let summary else {
                throw RPCError(code: .internalError, message: "the Generate stream ended without a summary")
            }
            return summary
        }
    }

    /// Encodes text with the server's tokenizer.
    public func tokenize(_ request: CanopyV1.TokenizeRequest) async throws -> CanopyV1.TokenizeResponse {
        try await unary(request, CanopyMethods.tokenize)
    }

    /// Decodes token ids.
    public func detokenize(_ request: CanopyV1.DetokenizeRequest) async throws -> CanopyV1.DetokenizeResponse {
        try await unary(request, CanopyMethods.detokenize)
    }

    /// The server's health.
    public func health() async throws -> CanopyV1.HealthResponse {
        try await unary(CanopyV1.HealthRequest(), CanopyMethods.health)
    }

    /// The model and engine description.
    public func info() async throws -> CanopyV1.InfoResponse {
        try await unary(CanopyV1.InfoRequest(), CanopyMethods.info)
    }

    /// The engine metrics.
    public func stats() async throws -> CanopyV1.StatsResponse {
        try await unary(CanopyV1.StatsRequest(), CanopyMethods.stats)
    }

    /// Calls any unary method with protobuf-c coding (also used to reach methods by name).
    public func unary<Input: ProtobufCRepresentable, Output: ProtobufCRepresentable>(
        _ request: Input, _ method: MethodDescriptor, as output: Output.Type = Output.self
    ) async throws -> Output {
        try await client.unary(
            request: ClientRequest(message: request), descriptor: method,
            serializer: ProtobufCSerializer<Input>(maxMessageBytes: maxMessageBytes),
            deserializer: ProtobufCDeserializer<Output>(maxMessageBytes: maxMessageBytes),
            options: .defaults
        ) { response in
            try response.message
        }
    }
}
