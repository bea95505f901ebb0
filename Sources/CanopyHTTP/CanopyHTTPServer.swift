import CanopyEngine
import CanopyKernels
import CanopyRPC
import CanopyWire
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The OpenAI-compatible HTTP API of canopyd, on the engine and serving state of the gRPC
/// service (`CanopyService`), so both interfaces run the same requests the same way:
///
/// - `GET /v1/models`: the one model served;
/// - `POST /v1/completions`, `POST /v1/chat/completions`: JSON, or server-sent events with
///   `"stream": true` (see `OpenAIParameters` for the fields read);
/// - `POST /tokenize`: `{"content"}` (llama-server's name) or `{"prompt"}` (vLLM's) to
///   `{"tokens": [...]}`, so one load generator can make the same prompts for any of them;
/// - `GET /health`: 200 `{"status": "serving"}`, or 503 while draining or failed;
/// - `GET /metrics`: Prometheus text, the series of the gRPC `Stats` call.
///
/// Errors are OpenAI's JSON shape (`OpenAIError`): 400 bad parameters, 401 a missing or wrong
/// bearer token, 404 unknown routes, 413 a body over `maxBodyBytes`, 429 a full queue, 503
/// draining, 403 a Unix-socket peer the access policy refuses. With a `bearerToken`, every
/// route but `/health` requires `Authorization: Bearer <token>`.
public final class CanopyHTTPServer: Sendable {
    /// Where the server listens.
    public enum Address: Sendable, Equatable {
        /// A TCP host and port (port 0 picks a free one; see `listeningPort`).
        case tcp(host: String, port: Int)
        /// A Unix domain socket path.
        case unixSocket(String)
    }

    /// The largest request body accepted by default (the gRPC message limit).
    public static let defaultMaxBodyBytes = 4 << 20

    private let application: Application<RouterResponder<CanopyRequestContext>>
    private let bound: BoundAddress

    /// Creates the server; `run()` starts it.
    /// `peerFilter`: on a Unix socket, the peers served (see `PeerFilterMiddleware`); ignored
    /// for TCP, whose peers have no kernel-verified identity (use a bearer token there).
    public init(
        service: CanopyService, address: Address, bearerToken: String? = nil, peerFilter: PeerFilter? = nil,
        maxBodyBytes: Int = defaultMaxBodyBytes, logger: Logger = Logger(label: "canopy.http")
    ) {
        let modelName = URL(fileURLWithPath: service.engine.loaded.file.path).lastPathComponent
        let responder = OpenAIResponder(service: service, modelName: modelName)
        let router = Router(context: CanopyRequestContext.self)
        router.add(middleware: OpenAIErrorMiddleware())
        if let peerFilter, case .unixSocket = address { router.add(middleware: PeerFilterMiddleware(filter: peerFilter)) }
        if let bearerToken { router.add(middleware: BearerTokenMiddleware(token: bearerToken)) }
        Self.addRoutes(to: router, responder: responder, service: service, maxBodyBytes: maxBodyBytes)
        let bindAddress: BindAddress
        switch address {
        case .tcp(let host, let port): bindAddress = .hostname(host, port: port)
        case .unixSocket(let path): bindAddress = .unixDomainSocket(path: path)
        }
        let bound = BoundAddress()
        self.bound = bound
        application = Application(
            router: router,
            configuration: .init(address: bindAddress, serverName: CanopyService.defaultVersion),
            onServerRunning: { channel in bound.set(channel.localAddress?.port) },
            // The gRPC server's one I/O thread: a streamed response's task runs there too
            // (`OpenAIResponder`), so a token crosses no thread between engine and socket.
            eventLoopGroupProvider: .shared(EventLoopTaskExecutor.shared.group),
            logger: logger)
    }

    /// Serves until the task running it is cancelled.
    public func run() async throws {
        do {
            try await application.run()
        } catch {
            bound.fail("\(error)")
            throw error
        }
        bound.fail("the server stopped")
    }

    /// Starts serving in a new task and returns it once the server listens; cancel the task
    /// to stop. Throws when it cannot listen (the address is taken, say) within `timeout`.
    public func start(timeout: Duration = .seconds(30)) async throws -> Task<Void, any Error> {
        let task = Task { try await run() }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            switch bound.get() {
            case .listening: return task
            case .failed(let reason): throw HTTPServerStartFailure(reason: reason)
            case .starting: try await Task.sleep(for: .milliseconds(10))
            }
        }
        task.cancel()
        throw HTTPServerStartFailure(reason: "not listening after \(timeout)")
    }

    /// The TCP port the server listens on once it runs (the chosen one for port 0); nil
    /// before that, and for a Unix socket.
    public var listeningPort: Int? {
        if case .listening(let port) = bound.get() { return port }
        return nil
    }

    private static func addRoutes(
        to router: Router<CanopyRequestContext>, responder: OpenAIResponder, service: CanopyService, maxBodyBytes: Int
    ) {
        router.get("/v1/models") { _, _ in
            let model = ModelList.Model(
                id: responder.modelName, created: Int(Date().timeIntervalSince1970),
                max_model_len: service.engine.loaded.config.contextLength)
            return OpenAIResponder.json(OpenAIJSON.encode(ModelList(data: [model])))
        }
        router.post("/v1/completions") { request, context in
            let body = try await decode(CompletionRequest.self, request, maxBodyBytes)
            return try await responder.complete(body, channel: context.channel)
        }
        router.post("/v1/chat/completions") { request, context in
            let body = try await decode(ChatCompletionRequest.self, request, maxBodyBytes)
            return try await responder.chat(body, channel: context.channel)
        }
        router.post("/tokenize") { request, _ in
            let body = try await decode(TokenizeRequest.self, request, maxBodyBytes)
            let ids = service.engine.loaded.tokenizer.encode(
                body.text, addSpecial: body.addSpecial, parseSpecial: body.addSpecial)
            return OpenAIResponder.json(OpenAIJSON.encode(["tokens": ids]))
        }
        router.get("/health") { _, _ in
            let (status, word, reason): (HTTPResponse.Status, String, String)
            switch service.state.condition {
            case .serving: (status, word, reason) = (.ok, "serving", "")
            case .draining: (status, word, reason) = (.serviceUnavailable, "draining", "")
            case .notServing(let why): (status, word, reason) = (.serviceUnavailable, "not_serving", why)
            }
            return OpenAIResponder.json(OpenAIJSON.encode(["status": word, "reason": reason]), status: status)
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: service.stats().prometheusText)))
        }
    }

    /// The request's JSON body as `T`: 413 over the limit, 400 naming what is wrong.
    private static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ limit: Int) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw OpenAIError(
                status: .contentTooLarge, message: "the request body is larger than the server's limit of \(limit) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as OpenAIError {
            throw error
        } catch let DecodingError.keyNotFound(key, _) {
            throw OpenAIError.badRequest("missing field \(key.stringValue)", param: key.stringValue)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw OpenAIError.badRequest("\(path): \(context.debugDescription)", param: path.isEmpty ? nil : path)
        } catch {
            throw OpenAIError.badRequest("the body is not valid JSON: \(error)")
        }
    }
}

/// Why `CanopyHTTPServer.start` could not listen.
public struct HTTPServerStartFailure: Error, CustomStringConvertible {
    /// The server's error, in words.
    public let reason: String
    public var description: String { "the HTTP server could not listen: \(reason)" }
}

/// Whether the server listens yet, and on which port.
private final class BoundAddress: Sendable {
    enum State: Sendable {
        case starting
        case listening(port: Int?)
        case failed(String)
    }

    private let state = Locked<State>(.starting)
    func set(_ port: Int?) { state.withLock { $0 = .listening(port: port) } }
    func fail(_ reason: String) { state.withLock { $0 = .failed(reason) } }
    func get() -> State { state.withLock { $0 } }
}

/// Hummingbird's request context plus the connection, so a handler can tell its client left.
public struct CanopyRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
