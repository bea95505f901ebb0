import CanopyEngine
import CanopyWire
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging

/// Serves `CanopyService` over real gRPC (HTTP/2, plaintext) on a Unix domain socket.
///
/// Lifecycle: `run()` listens and serves until `beginShutdown()` (graceful: no new RPCs are
/// accepted, running ones finish, then `run()` returns) or until its task is cancelled
/// (abrupt). The engine is not shut down here: the caller owns it.
///
/// The transport replaces an existing file at `socketPath` without checking whether another
/// process serves it; the daemon must hold its own lock before constructing a server.
///
/// Access control: every connection's peer credentials (`SO_PEERCRED`) are logged; with a
/// `peerFilter`, every RPC from a peer it refuses is answered with PERMISSION_DENIED and its
/// message, before the service or the engine see it (see `PeerFilter`).
public final class CanopyServer: Sendable {
    /// The service being served.
    public let service: CanopyService
    /// Where the server listens, for logs.
    public let endpoint: String
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let logger: Logger

    /// A server that binds `socketPath` when `run()` starts. `peerFilter` nil serves everyone
    /// who can open the socket.
    public convenience init(
        engine: Engine, socketPath: String, logger: Logger = Logger(label: "canopy.rpc"),
        serverVersion: String = CanopyService.defaultVersion,
        maxMessageBytes: Int = ProtobufCCodec.defaultMaxMessageBytes,
        peerFilter: PeerFilter? = nil
    ) {
        let transport = HTTP2ServerTransport.Posix(
            address: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext,
            config: Self.transportConfig(maxMessageBytes: maxMessageBytes, logger: logger, peerFilter: peerFilter),
            eventLoopGroup: EventLoopTaskExecutor.shared.group)
        self.init(
            engine: engine, transport: transport, endpoint: "unix:" + socketPath, logger: logger,
            serverVersion: serverVersion, maxMessageBytes: maxMessageBytes)
    }

    /// A server on an already bound and listening socket, e.g. one passed by systemd socket
    /// activation (`LISTEN_FDS`, first descriptor 3). The server takes ownership of `fd`.
    /// `peerFilter` applies exactly as for a socket the server binds itself.
    public convenience init(
        engine: Engine, listeningSocketDescriptor fd: Int32, logger: Logger = Logger(label: "canopy.rpc"),
        serverVersion: String = CanopyService.defaultVersion,
        maxMessageBytes: Int = ProtobufCCodec.defaultMaxMessageBytes,
        peerFilter: PeerFilter? = nil
    ) {
        let transport = HTTP2ServerTransport.Posix(
            listeningSocketDescriptor: Int(fd), transportSecurity: .plaintext,
            config: Self.transportConfig(maxMessageBytes: maxMessageBytes, logger: logger, peerFilter: peerFilter),
            eventLoopGroup: EventLoopTaskExecutor.shared.group)
        self.init(
            engine: engine, transport: transport, endpoint: "fd:\(fd)", logger: logger,
            serverVersion: serverVersion, maxMessageBytes: maxMessageBytes)
    }

    private init(
        engine: Engine, transport: HTTP2ServerTransport.Posix, endpoint: String, logger: Logger,
        serverVersion: String, maxMessageBytes: Int
    ) {
        service = CanopyService(engine: engine, serverVersion: serverVersion, maxMessageBytes: maxMessageBytes, logger: logger)
        server = GRPCServer(transport: transport, services: [service])
        self.endpoint = endpoint
        self.logger = logger
    }

    /// Concurrent RPCs (HTTP/2 streams) one client connection may hold open; advertised in
    /// SETTINGS_MAX_CONCURRENT_STREAMS, so a client queues the calls beyond it on its side.
    ///
    /// swift-nio-http2 enforces 100 until the client acknowledges our settings, and answers a
    /// client over its limit by tearing the connection down (GOAWAY PROTOCOL_ERROR), failing
    /// every call on it. The transport advertises no limit by default, so a client that
    /// multiplexed more than 100 calls was disconnected. Advertising the limit swift-nio-http2
    /// enforces anyway keeps the advertised and the enforced limit one number, from the
    /// first frame on; load beyond the engine's queue is refused per call with
    /// RESOURCE_EXHAUSTED.
    public static let maxConcurrentStreamsPerConnection = 100

    // grpc-swift-nio-transport 2.9.2 answers a request over its own payload limit by
    // resetting the HTTP/2 stream (the client sees UNAVAILABLE), not with a status. So every
    // stream's `OversizeMessageHandler` refuses a message over `maxMessageBytes` from its
    // length prefix, with RESOURCE_EXHAUSTED, before the transport sees it; the transport's
    // own limit is only a backstop above it.
    private static func transportConfig(
        maxMessageBytes: Int, logger: Logger, peerFilter: PeerFilter?
    ) -> HTTP2ServerTransport.Posix.Config {
        let (limit, overflow) = maxMessageBytes.multipliedReportingOverflow(by: 2)
        return .defaults {
            $0.rpc.maxRequestPayloadSize = overflow ? .max : limit
            $0.http2.maxConcurrentStreams = maxConcurrentStreamsPerConnection
            $0.channelDebuggingCallbacks = PeerCallbacks.callbacks(
                logger: logger, filter: peerFilter, maxMessageBytes: maxMessageBytes)
        }
    }

    /// Listens and serves until shutdown completes. Call at most once.
    ///
    /// The RPC handlers run on the transport's only event loop (`EventLoopTaskExecutor.shared`),
    /// so a unary call or a streamed token crosses no thread in the server; handlers that take
    /// long on the CPU move to the global pool (`CanopyService`).
    ///
    /// - Throws: when the socket cannot be bound or the transport fails.
    public func run() async throws {
        logger.info("serving canopy.v1.Canopy", metadata: ["endpoint": "\(endpoint)"])
        try await withTaskExecutorPreference(EventLoopTaskExecutor.shared.executor) { try await server.serve() }
        logger.info("server stopped", metadata: ["endpoint": "\(endpoint)"])
    }

    /// Starts draining while still accepting connections: `Health` reports DRAINING, and a
    /// client that connects meanwhile gets that answer, or UNAVAILABLE with a reason from a
    /// `Generate` the stopping engine refuses, instead of finding no socket. Call
    /// ``beginShutdown()`` once the engine has drained.
    public func beginDraining() {
        logger.info("draining", metadata: ["endpoint": "\(endpoint)"])
        service.state.beginDraining()
    }

    /// Stops taking requests until a restart: `Health` reports NOT_SERVING with `reason`, new
    /// `Generate` calls get UNAVAILABLE naming it, running ones finish.
    public func fail(_ reason: String) {
        service.state.fail(reason)
    }

    /// Begins a graceful shutdown: `Health` reports DRAINING, new RPCs are refused, running
    /// ones (including streaming generations) finish, then `run()` returns.
    public func beginShutdown() {
        logger.info("shutting down gracefully", metadata: ["endpoint": "\(endpoint)"])
        service.state.beginDraining()
        server.beginGracefulShutdown()
    }

    /// The address the server listens on once it has started (waits for that).
    public var listeningAddress: String? {
        get async throws {
            try await server.listeningAddress.map { "\($0)" }
        }
    }
}
