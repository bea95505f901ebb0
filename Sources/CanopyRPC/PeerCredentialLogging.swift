import Glibc
import GRPCNIOTransportCore
import Logging
import NIOCore

/// Logs the kernel-verified identity (SO_PEERCRED: pid, uid, gid) of every process that
/// connects to the socket, so an operator can see who uses the daemon.
enum PeerCredentialLogging {
    /// Transport callbacks that log each accepted connection's peer credentials.
    static func callbacks(logger: Logger) -> HTTP2ServerTransport.Config.ChannelDebuggingCallbacks {
        var callbacks = HTTP2ServerTransport.Config.ChannelDebuggingCallbacks.defaults
        callbacks.onAcceptTCPConnection = { channel in
            guard let provider = channel as? any SocketOptionProvider else {
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            let credentials: EventLoopFuture<PeerCredential> = provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
            return credentials.map { peer in
                logger.info("connection", metadata: ["pid": "\(peer.pid)", "uid": "\(peer.uid)", "gid": "\(peer.gid)"])
            }.recover { error in
                logger.warning("connection with unreadable peer credentials", metadata: ["error": "\(error)"])
            }
        }
        return callbacks
    }

    /// Linux's `struct ucred` (Glibc exposes it only under `_GNU_SOURCE`): same layout.
    struct PeerCredential: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }
}
