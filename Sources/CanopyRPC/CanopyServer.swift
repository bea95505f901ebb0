import CanopyEngine
import CanopyWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix

/// Serves `CanopyService` over gRPC (HTTP/2, plaintext) on a Unix domain socket.
///
/// Each connection is an `NIOHTTP2Handler` and a `GRPCConnectionHandler`, which reads and
/// answers the calls at the level of HTTP/2 frames (see there for why and what it
/// guarantees). All I/O runs on one event loop (`EventLoopTaskExecutor.shared`), and so do
/// the tasks streaming `Generate` events, so a unary call or a streamed token crosses no
/// thread in the server; work that takes long on the CPU moves to the global pool.
///
/// Lifecycle: `run()` listens and serves until `beginShutdown()` (graceful: every connection
/// gets GOAWAY, running calls finish, then `run()` returns) or until its task is cancelled
/// (abrupt: every connection is closed). The engine is not shut down here: the caller owns it.
///
/// The server replaces an existing file at `socketPath` without checking whether another
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
    private let source: Source
    private let peerFilter: PeerFilter?
    private let logger: Logger
    private let bound: EventLoopPromise<String>
    private let state = NIOLockedValueBox(Lifecycle())

    private enum Source {
        case path(String)
        case descriptor(Int32)
    }

    private struct Lifecycle {
        var listener: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
    }

    /// A server that binds `socketPath` when `run()` starts. `peerFilter` nil serves everyone
    /// who can open the socket.
    public convenience init(
        engine: Engine, socketPath: String, logger: Logger = Logger(label: "canopy.rpc"),
        serverVersion: String = CanopyService.defaultVersion,
        maxMessageBytes: Int = ProtobufCCodec.defaultMaxMessageBytes,
        peerFilter: PeerFilter? = nil
    ) {
        self.init(
            engine: engine, source: .path(socketPath), endpoint: "unix:" + socketPath, logger: logger,
            serverVersion: serverVersion, maxMessageBytes: maxMessageBytes, peerFilter: peerFilter)
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
        self.init(
            engine: engine, source: .descriptor(fd), endpoint: "fd:\(fd)", logger: logger,
            serverVersion: serverVersion, maxMessageBytes: maxMessageBytes, peerFilter: peerFilter)
    }

    private init(
        engine: Engine, source: Source, endpoint: String, logger: Logger,
        serverVersion: String, maxMessageBytes: Int, peerFilter: PeerFilter?
    ) {
        service = CanopyService(engine: engine, serverVersion: serverVersion, maxMessageBytes: maxMessageBytes, logger: logger)
        self.source = source
        self.endpoint = endpoint
        self.logger = logger
        self.peerFilter = peerFilter
        bound = EventLoopTaskExecutor.shared.group.next().makePromise()
    }

    /// Concurrent RPCs (HTTP/2 streams) one client connection may hold open; advertised in
    /// SETTINGS_MAX_CONCURRENT_STREAMS, so a client queues the calls beyond it on its side.
    ///
    /// swift-nio-http2 enforces 100 until the client acknowledges our settings, and answers a
    /// client over its limit by tearing the connection down (GOAWAY PROTOCOL_ERROR), failing
    /// every call on it. Advertising the limit swift-nio-http2 enforces anyway keeps the
    /// advertised and the enforced limit one number, from the first frame on; load beyond
    /// the engine's queue is refused per call with RESOURCE_EXHAUSTED.
    public static let maxConcurrentStreamsPerConnection = 100

    /// Listens and serves until shutdown completes. Call at most once.
    ///
    /// - Throws: when the socket cannot be bound.
    public func run() async throws {
        let bootstrap = ServerBootstrap(group: EventLoopTaskExecutor.shared.group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { [self] channel in connect(channel) }
        let listener: any Channel
        do {
            switch source {
            case .path(let path): listener = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            case .descriptor(let fd): listener = try await bootstrap.withBoundSocket(descriptor: fd).get()
            }
        } catch {
            bound.fail(error)
            throw error
        }
        let stopNow = state.withLockedValue { state in
            state.listener = listener
            return state.shuttingDown
        }
        if stopNow { listener.close(promise: nil) }
        bound.succeed(endpoint)
        logger.info("serving canopy.v1.Canopy", metadata: ["endpoint": "\(endpoint)"])
        await withTaskCancellationHandler {
            try? await listener.closeFuture.get()
            // Connections accepted before the listener closed finish their calls.
            while let open = state.withLockedValue({ $0.connections.values.first }) {
                try? await open.closeFuture.get()
            }
        } onCancel: {
            let open = state.withLockedValue { state in
                state.shuttingDown = true
                return [state.listener].compactMap { $0 } + Array(state.connections.values)
            }
            for channel in open { channel.close(promise: nil) }
        }
        logger.info("server stopped", metadata: ["endpoint": "\(endpoint)"])
    }

    /// Sets up an accepted connection: its peer's credentials (logged, and checked per call
    /// when there is a filter), HTTP/2 and the gRPC handler.
    private func connect(_ channel: any Channel) -> EventLoopFuture<Void> {
        let accepted = state.withLockedValue { state in
            if state.shuttingDown { return false }
            state.connections[ObjectIdentifier(channel)] = channel
            return true
        }
        guard accepted else { return channel.close() }
        channel.closeFuture.whenComplete { [state] _ in
            _ = state.withLockedValue { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
        }
        let logger = self.logger
        let (service, filter) = (self.service, peerFilter)
        return PeerCredential.of(channel).map { peer -> PeerCredential? in
            logger.info("connection", metadata: ["pid": "\(peer.pid)", "uid": "\(peer.uid)", "gid": "\(peer.gid)"])
            return peer
        }.recover { error in
            logger.warning("connection with unreadable peer credentials", metadata: ["error": "\(error)"])
            return nil
        }.flatMapThrowing { peer in
            let settings: HTTP2Settings = [
                HTTP2Setting(parameter: .maxConcurrentStreams, value: Self.maxConcurrentStreamsPerConnection),
                HTTP2Setting(parameter: .maxHeaderListSize, value: HPACKDecoder.defaultMaxHeaderListSize),
            ]
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(NIOHTTP2Handler(mode: .server, initialSettings: settings))
            try pipeline.addHandler(GRPCConnectionHandler(service: service, peer: peer, filter: filter, logger: logger))
        }
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

    /// Begins a graceful shutdown: `Health` reports DRAINING, the listener closes, every
    /// connection gets GOAWAY and refuses new calls, running ones (including streaming
    /// generations) finish, then `run()` returns.
    public func beginShutdown() {
        logger.info("shutting down gracefully", metadata: ["endpoint": "\(endpoint)"])
        service.state.beginDraining()
        let (listener, open) = state.withLockedValue { state in
            state.shuttingDown = true
            return (state.listener, Array(state.connections.values))
        }
        listener?.close(promise: nil)
        for channel in open { channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
    }

    /// The address the server listens on once it has started (waits for that).
    public var listeningAddress: String? {
        get async throws { try await bound.futureResult.get() }
    }
}
