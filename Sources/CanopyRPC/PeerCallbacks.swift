import Glibc
import GRPCNIOTransportCore
import Logging
import NIOCore

/// The transport hooks that make peer identity visible and enforced: every accepted
/// connection's credentials (`SO_PEERCRED`) and HTTP/2 errors are logged, and with a `PeerFilter` every HTTP/2
/// stream (one RPC) of a refused peer is answered with PERMISSION_DENIED before gRPC routes
/// it, so the service and the engine never see it. Every stream also gets an
/// `OversizeMessageHandler`, which refuses request messages over the size limit with
/// RESOURCE_EXHAUSTED from their length prefix.
///
/// The same hooks run for a socket the server bound itself and for an inherited listening
/// descriptor (socket activation): both accept their connections through the same pipeline.
enum PeerCallbacks {
    /// The message a peer gets when its credentials cannot be read while a filter is set:
    /// access control fails closed.
    static let unreadableCredentialsReason =
        "canopyd could not read this connection's peer credentials (SO_PEERCRED), so it refuses it"

    /// Transport callbacks: log each connection, refuse request messages over
    /// `maxMessageBytes`, and, when `filter` is set, check each stream's peer.
    static func callbacks(
        logger: Logger, filter: PeerFilter?, maxMessageBytes: Int
    ) -> HTTP2ServerTransport.Config.ChannelDebuggingCallbacks {
        var callbacks = HTTP2ServerTransport.Config.ChannelDebuggingCallbacks.defaults
        callbacks.onAcceptTCPConnection = { channel in
            ConnectionErrorLogger.install(on: channel, logger: logger)
            return credentials(of: channel).map { peer in
                logger.info("connection", metadata: ["pid": "\(peer.pid)", "uid": "\(peer.uid)", "gid": "\(peer.gid)"])
            }.recover { error in
                logger.warning("connection with unreadable peer credentials", metadata: ["error": "\(error)"])
            }
        }
        callbacks.onAcceptHTTP2Stream = { stream in
            do {
                try stream.pipeline.syncOperations.addHandler(
                    OversizeMessageHandler(limit: maxMessageBytes, logger: logger), position: .first)
            } catch {
                return stream.eventLoop.makeFailedFuture(error)
            }
            guard let filter else { return stream.eventLoop.makeSucceededVoidFuture() }
            return guardStream(stream, filter: filter, logger: logger)
        }
        return callbacks
    }

    /// Reads the connection's credentials again for each stream (one `getsockopt` on the
    /// event loop, cheap next to any RPC) rather than caching them per connection: nothing
    /// to keep in sync or to free when the connection closes.
    private static func guardStream(_ stream: any Channel, filter: @escaping PeerFilter, logger: Logger) -> EventLoopFuture<Void> {
        let peer: EventLoopFuture<PeerCredential?>
        if let connection = stream.parent {
            peer = credentials(of: connection).map { Optional($0) }.recover { _ in nil }.hop(to: stream.eventLoop)
        } else {
            peer = stream.eventLoop.makeSucceededFuture(nil)
        }
        return peer.flatMapThrowing { peer in
            let refusal: String?
            if let peer {
                refusal = filter(peer.pid, peer.uid, peer.gid)
            } else {
                refusal = unreadableCredentialsReason
            }
            guard let reason = refusal else { return }
            // First in the pipeline: the denial handler sees the request's HEADERS before
            // gRPC's stream handler and never passes anything on, so the RPC is not routed.
            try stream.pipeline.syncOperations.addHandler(
                PermissionDeniedHandler(reason: reason, peer: peer, logger: logger), position: .first)
        }
    }

    /// The peer credentials of an accepted Unix-socket connection channel.
    static func credentials(of channel: any Channel) -> EventLoopFuture<PeerCredential> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        return provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
    }
}

/// Linux's `struct ucred` (`pid_t pid; uid_t uid; gid_t gid;`), which Glibc declares only
/// under `_GNU_SOURCE`: same layout, so NIO can read `SO_PEERCRED` into it.
///
/// CanopyDaemon's public `PeerCredentials` restates the same layout: the two modules do not
/// depend on each other, so the daemon passes its policy in as a `PeerFilter` on plain ids.
struct PeerCredential: Sendable, Equatable {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
}
