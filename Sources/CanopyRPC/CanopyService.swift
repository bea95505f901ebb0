import CanopyEngine
import CanopyModel
import CanopyWire
import CanopyWireMapping
import Foundation
import GRPCCore
import Logging

/// The `canopy.v1.Canopy` gRPC service on top of an `Engine`, registered method by method
/// with protobuf-c serializers (no generated gRPC code).
///
/// Status codes: INVALID_ARGUMENT for undecodable messages and parameters the engine
/// rejects; RESOURCE_EXHAUSTED when the engine queue is full or a message exceeds
/// `maxMessageBytes`; UNAVAILABLE while shutting down; CANCELLED when a generation ends
/// without completing. When a `Generate` client goes away, the request is cancelled in the
/// engine, which frees its KV blocks at the next step.
public struct CanopyService: RegistrableRPCService {
    /// The engine requests run on.
    public let engine: Engine
    /// Uptime and draining state reported by `Health` and `Stats`.
    public let state: ServingState
    /// The version string `Info` reports.
    public let serverVersion: String
    /// The largest encoded message accepted or sent.
    public let maxMessageBytes: Int

    /// Where capacity refusals are logged (rate-limited).
    let refusals: RefusalLog
    /// Where requests the engine failed mid-flight are logged (rate-limited).
    let failures: RefusalLog

    /// The version reported when none is given.
    public static let defaultVersion = "canopyd 0.1.0 (canopy.v1)"

    /// Creates the service.
    public init(
        engine: Engine, state: ServingState = ServingState(), serverVersion: String = defaultVersion,
        maxMessageBytes: Int = ProtobufCCodec.defaultMaxMessageBytes,
        logger: Logger = Logger(label: "canopy.rpc")
    ) {
        self.refusals = RefusalLog(logger: logger)
        self.failures = RefusalLog(logger: logger, outcome: "failed by the engine")
        self.engine = engine
        self.state = state
        self.serverVersion = serverVersion
        self.maxMessageBytes = maxMessageBytes
    }

    /// Registers the six methods with `router`.
    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(
            forMethod: CanopyMethods.generate,
            deserializer: ProtobufCDeserializer<CanopyV1.GenerateRequest>(maxMessageBytes: maxMessageBytes),
            serializer: ProtobufCSerializer<CanopyV1.GenerateEvent>(maxMessageBytes: maxMessageBytes)
        ) { request, _ in
            let message = try await Self.single(request)
            return try await Self.onPool { try generate(message) }  // tokenizing, the chat template
        }
        unary(CanopyMethods.tokenize, &router, onPool: true, tokenize)
        unary(CanopyMethods.detokenize, &router, onPool: true, detokenize)
        unary(CanopyMethods.health, &router) { (_: CanopyV1.HealthRequest) in
            switch state.condition {
            case .notServing(let reason):
                return CanopyV1.HealthResponse(status: .notServing, uptimeSeconds: state.uptimeSeconds, reason: reason)
            case .draining: return CanopyV1.HealthResponse(status: .draining, uptimeSeconds: state.uptimeSeconds)
            case .serving: return CanopyV1.HealthResponse(status: .serving, uptimeSeconds: state.uptimeSeconds)
            }
        }
        unary(CanopyMethods.info, &router) { (_: CanopyV1.InfoRequest) in info() }
        unary(CanopyMethods.stats, &router) { (_: CanopyV1.StatsRequest) in stats() }
    }

    /// Starts a generation and streams its events; refusals fail the call before any
    /// event is sent.
    func generate(_ message: CanopyV1.GenerateRequest) throws(RPCError) -> StreamingServerResponse<CanopyV1.GenerateEvent> {
        if let refusal = state.failureRefusal { throw RPCError(code: .unavailable, message: refusal) }
        let request = try EngineMapping.request(
            message, fallbackID: "req-" + UUID().uuidString, defaults: engine.samplingDefaults)
        let submitted: (key: Engine.RequestKey, events: EngineEventStream)
        do {
            submitted = try engine.submit(request)
        } catch {
            let status = EngineMapping.rpcError(error)
            if status.code == .resourceExhausted { refusals.record(status.message) }
            throw status
        }
        let engine = self.engine
        let state = self.state
        let failures = self.failures
        return StreamingServerResponse { writer in
            var completed = false
            // Whatever ends this producer early (client gone, write failed, task cancelled),
            // the engine must stop the request and free its blocks. Cancelling a finished
            // request is a no-op.
            defer { if !completed { engine.cancel(submitted.key) } }
            // gRPC does not cancel this task when the client goes or the deadline passes; it
            // signals the RPC's cancellation handle. Without this handler a request would be
            // noticed gone only at its first write, after its queue wait and whole prefill.
            // The handle also fires when the server's shutdown quiesces the connection;
            // canopyd shuts the server down only after the engine has drained, but a drain
            // never cancels work, so a quiesce while draining is left alone.
            try await withRPCCancellationHandler {
                for await event in submitted.events {
                    if case .completed(let output) = event, let failure = output.failure {
                        // The engine failed the request (and freed its blocks): a status, not a summary.
                        completed = true
                        switch failure {
                        case .weightsUnreadable, .rankLost: state.fail(failure.description)
                        case .outOfMemory, .readFailed: break
                        }
                        failures.record(failure.description)
                        throw EngineMapping.rpcError(failure)
                    }
                    try await writer.write(EngineMapping.event(event))
                    if case .completed = event { completed = true }
                }
            } onCancelRPC: {
                if !state.isDraining { engine.cancel(submitted.key) }
            }
            guard completed else {
                throw RPCError(code: .cancelled, message: "the generation was cancelled before it completed")
            }
            return [:]
        }
    }

    func tokenize(_ message: CanopyV1.TokenizeRequest) -> CanopyV1.TokenizeResponse {
        CanopyV1.TokenizeResponse(
            ids: engine.loaded.tokenizer.encode(message.text, addSpecial: message.addSpecial, parseSpecial: message.parseSpecial))
    }

    func detokenize(_ message: CanopyV1.DetokenizeRequest) throws(RPCError) -> CanopyV1.DetokenizeResponse {
        let tokenizer = engine.loaded.tokenizer
        let size = tokenizer.vocabularySize
        if let bad = message.ids.first(where: { $0 < 0 || Int($0) >= size }) {
            throw RPCError(code: .invalidArgument, message: "token id \(bad) is outside the vocabulary (valid ids are 0..<\(size))")
        }
        return CanopyV1.DetokenizeResponse(text: tokenizer.decode(message.ids, renderSpecial: message.renderSpecial))
    }

    func info() -> CanopyV1.InfoResponse {
        let loaded = engine.loaded
        let c = loaded.config
        let e = engine.config
        var info = CanopyV1.InfoResponse()
        info.modelPath = loaded.file.path
        info.architecture = c.architecture
        info.contextLength = UInt32(clamping: c.contextLength)
        info.vocabSize = UInt32(clamping: c.vocabularySize)
        info.quantization = loaded.quantizationSummary
        info.parameterCount = UInt64(clamping: loaded.file.tensors.reduce(0) { $0 + $1.elementCount })
        info.tensorCount = UInt32(clamping: loaded.file.tensors.count)
        info.serverVersion = serverVersion
        info.embeddingLength = UInt32(clamping: c.embeddingLength)
        info.blockCount = UInt32(clamping: c.blockCount)
        info.headCount = UInt32(clamping: c.headCount)
        info.headCountKV = UInt32(clamping: c.headCountKV)
        if case .success(let template) = loaded.chatTemplate { info.chatTemplate = template.family.rawValue }
        if let placement = loaded.weightResidency?.placement {
            info.weightPlacement = placement.description
            info.weightReadBytesPerPass = UInt64(clamping: placement.streamedBytesPerPass)
        }
        info.samplingDefaults = CanopyV1.SamplingDefaults(engine.samplingDefaults)
        info.engine.kvCacheMemoryBytes = UInt64(clamping: e.kvCacheMemory)
        info.engine.blockSize = UInt32(clamping: e.blockSize)
        info.engine.kvPrecision = e.kvPrecision.rawValue
        info.engine.maxBatchedTokens = UInt32(clamping: e.maxBatchedTokens)
        info.engine.maxDecodeStall = e.maxDecodeStall
        info.engine.maxSequences = UInt32(clamping: e.maxSequences)
        info.engine.maxWaitingRequests = UInt32(clamping: e.maxWaitingRequests)
        info.engine.prefixCaching = e.prefixCaching
        info.engine.defaultMaxTokens = e.defaultMaxTokens.map { UInt32(clamping: $0) }
        info.engine.kvTotalBlocks = UInt32(clamping: engine.metrics().kv.totalBlocks)
        info.engine.speculative = e.speculative.rawValue
        info.engine.speculativeTokens = UInt32(clamping: e.speculativeTokens)
        info.engine.speculativeStepTokens = UInt32(clamping: e.speculativeStepTokens)
        info.engine.draftModel = engine.draft?.file.path ?? ""
        return info
    }

    /// The engine metrics with uptime and their Prometheus text: what `Stats` answers and
    /// the HTTP front's `/metrics` serves.
    public func stats() -> CanopyV1.StatsResponse {
        let metrics = engine.metrics()
        var stats = EngineMapping.stats(metrics)
        stats.parallel = metrics.parallel.map { EngineMapping.parallel($0, loaded: engine.loaded) }
        stats.uptimeSeconds = state.uptimeSeconds
        stats.prometheusText = PrometheusText.render(stats)
        return stats
    }

    /// Registers a unary method. `onPool`: `body` may take long on the CPU (a long text), so
    /// it runs on the global pool (`onPool(_:)`).
    private func unary<Input: ProtobufCRepresentable, Output: ProtobufCRepresentable, Transport: ServerTransport>(
        _ method: MethodDescriptor, _ router: inout RPCRouter<Transport>, onPool: Bool = false,
        _ body: @escaping @Sendable (Input) throws(RPCError) -> Output
    ) {
        router.registerHandler(
            forMethod: method,
            deserializer: ProtobufCDeserializer<Input>(maxMessageBytes: maxMessageBytes),
            serializer: ProtobufCSerializer<Output>(maxMessageBytes: maxMessageBytes)
        ) { request, _ in
            let input = try await Self.single(request)
            let output = onPool ? try await Self.onPool { try body(input) } : try body(input)
            return StreamingServerResponse(single: ServerResponse(message: output))
        }
    }

    /// Runs `work`, CPU work a request may make long (a long prompt or text), on the global
    /// pool instead of the I/O thread handlers run on (see `CanopyServer.run`), where it would
    /// hold up every other stream.
    private static func onPool<Output: Sendable>(
        _ work: @Sendable () throws -> Output
    ) async throws -> Output {
        try await withTaskExecutorPreference(globalConcurrentExecutor) { try work() }
    }

    /// The one request message of a unary or server-streaming call; decoding errors
    /// (INVALID_ARGUMENT, RESOURCE_EXHAUSTED) surface here.
    static func single<Message>(_ request: StreamingServerRequest<Message>) async throws -> Message {
        var iterator = request.messages.makeAsyncIterator()
        guard let message = try await iterator.next() else {
            throw RPCError(code: .invalidArgument, message: "the call carried no request message")
        }
        return message
    }
}
