import CanopyEngine
import CanopyModel
import CanopyRPC
import CanopyWire
import CanopyTokenizer
import Foundation
import Hummingbird
import NIOCore

/// Runs OpenAI completion and chat requests on the engine and writes their answers: one JSON
/// body, or server-sent events (`data: {chunk}` per token, `data: [DONE]` last) when the
/// request streams.
///
/// A request whose client goes away is cancelled in the engine, which frees its KV blocks at
/// the next step: a streaming one when a write fails, a non-streaming one at its next token
/// once the connection is closed.
struct OpenAIResponder: Sendable {
    /// The engine, its sampling defaults and the serving state (shared with gRPC).
    let service: CanopyService
    /// The name `/v1/models` lists and responses carry.
    let modelName: String

    /// The two APIs differ in their bodies only; everything else is shared.
    enum Kind {
        case completion
        case chat

        var idPrefix: String { self == .completion ? "cmpl-" : "chatcmpl-" }
    }

    /// Answers a completion request.
    func complete(_ body: CompletionRequest, channel: any Channel) async throws -> Response {
        let id = Kind.completion.idPrefix + UUID().uuidString
        let request = try OpenAIRequestMapping.request(body, id: id, defaults: service.engine.samplingDefaults)
        return try await run(request, kind: .completion, parameters: body.parameters, channel: channel)
    }

    /// Answers a chat completion request.
    func chat(_ body: ChatCompletionRequest, channel: any Channel) async throws -> Response {
        let id = Kind.chat.idPrefix + UUID().uuidString
        let request = try OpenAIRequestMapping.request(body, id: id, defaults: service.engine.samplingDefaults)
        return try await run(request, kind: .chat, parameters: body.parameters, channel: channel)
    }

    private func run(_ request: CanopyEngine.Request, kind: Kind, parameters: OpenAIParameters, channel: any Channel) async throws -> Response {
        if let refusal = service.state.failureRefusal { throw OpenAIError.unavailable(refusal) }
        if service.state.isDraining {
            throw OpenAIError.unavailable("canopyd is shutting down and takes no new requests")
        }
        let engine = service.engine
        let submitted: (key: Engine.RequestKey, events: EngineEventStream)
        do {
            submitted = try engine.submit(request)
        } catch {
            throw OpenAIError.engine(error)
        }
        let writer = ChunkWriter(
            kind: kind, id: request.id, created: Int(Date().timeIntervalSince1970), model: modelName,
            tokenizer: engine.loaded.tokenizer, wantsLogprobs: request.sampling.logprobs != nil)
        if parameters.stream == true {
            return stream(submitted, writer: writer, includeUsage: parameters.includeUsage == true)
        }
        var completed = false
        defer { if !completed { engine.cancel(submitted.key) } }
        for await event in submitted.events {
            guard case .completed(let output) = event else {
                if !channel.isActive { break }  // the client is gone: stop the work
                continue
            }
            completed = true
            if let failure = output.failure { throw OpenAIError.failure(failure) }
            return Self.json(writer.whole(output))
        }
        throw OpenAIError(status: .init(code: 499), message: "the client closed the connection", type: "cancelled")
    }

    /// The server-sent events of a streaming request. The status is sent before the first
    /// token; a failure after it ends the stream with an `error` event, as vLLM does.
    private func stream(
        _ submitted: (key: Engine.RequestKey, events: EngineEventStream), writer: ChunkWriter, includeUsage: Bool
    ) -> Response {
        let engine = service.engine
        let body = ResponseBody { sink in
            // On the connection's I/O thread (`CanopyHTTPServer` serves on that one loop):
            // each event is encoded and written where the socket is, not handed from the
            // global pool to the loop and back.
            try await withTaskExecutorPreference(EventLoopTaskExecutor.shared.executor) {
                try await Self.write(submitted, writer: writer, includeUsage: includeUsage, engine: engine, to: &sink)
            }
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Writes the events of `submitted` to `sink` as server-sent events, then `[DONE]`.
    private static func write(
        _ submitted: (key: Engine.RequestKey, events: EngineEventStream), writer: ChunkWriter, includeUsage: Bool,
        engine: Engine, to sink: inout any ResponseBodyWriter
    ) async throws {
        var completed = false
        // A failed write (client gone) or a cancelled task ends this closure early: the
        // engine must stop the request. Cancelling a finished request is a no-op.
        defer { if !completed { engine.cancel(submitted.key) } }
        var state = writer.startState()
        for await event in submitted.events {
            switch event {
            case .token(let token):
                for chunk in writer.chunks(for: token, state: &state) { try await sink.write(Self.event(chunk)) }
            case .finished(let sample, let reason):
                for chunk in writer.finishChunks(sample: sample, reason: reason, state: &state) {
                    try await sink.write(Self.event(chunk))
                }
            case .completed(let output):
                completed = true
                if let failure = output.failure {
                    try await sink.write(Self.event(OpenAIError.failure(failure).body))
                    break
                }
                for chunk in writer.forkedEndings(output, state: &state) { try await sink.write(Self.event(chunk)) }
                if includeUsage { try await sink.write(Self.event(writer.usageChunk(output))) }
            }
        }
        try await sink.write(ByteBuffer(string: "data: [DONE]\n\n"))
        try await sink.finish(nil)
    }

    /// One server-sent event carrying `json`.
    static func event(_ json: Data) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }

    /// A JSON response, 200 unless `status` says otherwise.
    static func json(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
