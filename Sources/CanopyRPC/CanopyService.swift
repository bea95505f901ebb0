import CanopyEngine
import CanopyModel
import CanopyWire
import CanopyWireMapping
import Foundation
import GRPCCore
import Logging

/// The `canopy.v1.Canopy` service on top of an `Engine`: each method takes its decoded
/// request and returns its answer or throws the call's status (no generated gRPC code; the
/// server, `CanopyServer`, reads and writes the HTTP/2 frames).
///
/// Status codes: INVALID_ARGUMENT for undecodable messages and parameters the engine
/// rejects; RESOURCE_EXHAUSTED when the engine queue is full or a message exceeds
/// `maxMessageBytes`; UNAVAILABLE while shutting down; CANCELLED when a generation ends
/// without completing. When a `Generate` client goes away, the request is cancelled in the
/// engine, which frees its KV blocks at the next step.
public struct CanopyService: Sendable {
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

    /// The encoded answer of a unary method to the encoded `request`.
    func answer(_ method: CanopyRPCMethod, _ request: [UInt8]) throws(RPCError) -> [UInt8] {
        switch method {
        case .health: _ = try decode(CanopyV1.HealthRequest.self, request); return try encode(health())
        case .info: _ = try decode(CanopyV1.InfoRequest.self, request); return try encode(info())
        case .stats: _ = try decode(CanopyV1.StatsRequest.self, request); return try encode(stats())
        case .tokenize: return try encode(tokenize(decode(CanopyV1.TokenizeRequest.self, request)))
        case .detokenize: return try encode(detokenize(decode(CanopyV1.DetokenizeRequest.self, request)))
        case .generate: throw RPCError(code: .internalError, message: "Generate is a streaming method")
        }
    }

    func health() -> CanopyV1.HealthResponse {
        switch state.condition {
        case .notServing(let reason):
            return CanopyV1.HealthResponse(status: .notServing, uptimeSeconds: state.uptimeSeconds, reason: reason)
        case .draining: return CanopyV1.HealthResponse(status: .draining, uptimeSeconds: state.uptimeSeconds)
        case .serving: return CanopyV1.HealthResponse(status: .serving, uptimeSeconds: state.uptimeSeconds)
        }
    }

    /// Submits the encoded `GenerateRequest` to the engine; refusals (bad parameters, a full
    /// queue, a stopping or failed engine) throw before any event exists.
    func startGeneration(_ request: [UInt8]) throws(RPCError) -> (key: Engine.RequestKey, events: EngineEventStream) {
        let message = try decode(CanopyV1.GenerateRequest.self, request)
        if let refusal = state.failureRefusal { throw RPCError(code: .unavailable, message: refusal) }
        let request = try EngineMapping.request(
            message, fallbackID: "req-" + UUID().uuidString, defaults: engine.samplingDefaults)
        do {
            return try engine.submit(request)
        } catch {
            let status = EngineMapping.rpcError(error)
            if status.code == .resourceExhausted { refusals.record(status.message) }
            throw status
        }
    }

    /// Streams the events of a started generation into `sink`, encoded, and returns the
    /// call's status: nil once `.completed` is sent, else why it ended early.
    ///
    /// Whatever ends the stream early (the sink gone, the task cancelled, an encoding
    /// failure), the engine request is cancelled, so its blocks are freed at the next step;
    /// cancelling a finished request is a no-op.
    func stream(
        _ submitted: (key: Engine.RequestKey, events: EngineEventStream), to sink: some MessageSink
    ) async -> RPCError? {
        var completed = false
        defer { if !completed { engine.cancel(submitted.key) } }
        for await event in submitted.events {
            if case .completed(let output) = event, let failure = output.failure {
                // The engine failed the request (and freed its blocks): a status, not a summary.
                completed = true
                switch failure {
                case .weightsUnreadable, .rankLost: state.fail(failure.description)
                case .outOfMemory, .readFailed: break
                }
                failures.record(failure.description)
                return EngineMapping.rpcError(failure)
            }
            do {
                try await sink.send(encode(EngineMapping.event(event)))
            } catch let error as RPCError {
                return error
            } catch {
                return RPCError(code: .cancelled, message: "the client went away")
            }
            if case .completed = event { completed = true }
        }
        return completed ? nil : RPCError(code: .cancelled, message: "the generation was cancelled before it completed")
    }

    private func decode<M: ProtobufCRepresentable>(_ type: M.Type, _ bytes: [UInt8]) throws(RPCError) -> M {
        do {
            return try ProtobufCCodec.decode(M.self, from: bytes, maxMessageBytes: maxMessageBytes)
        } catch {
            throw error.rpcError
        }
    }

    private func encode<M: ProtobufCRepresentable>(_ message: M) throws(RPCError) -> [UInt8] {
        do {
            return try ProtobufCCodec.encode(message, maxMessageBytes: maxMessageBytes)
        } catch {
            throw error.rpcError
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
}
