import Glibc
import NIOCore

/// Linux's `struct ucred` (`pid_t pid; uid_t uid; gid_t gid;`), which Glibc declares only
/// under `_GNU_SOURCE`: same layout, so NIO can read `SO_PEERCRED` into it.
///
/// CanopyDaemon's public `PeerCredentials` restates the same layout: the two modules do not
/// depend on each other, so the daemon passes its policy in as a `PeerFilter` on plain ids.
struct PeerCredential: Sendable, Equatable {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0

    /// The message a peer gets when its credentials cannot be read while a filter is set:
    /// access control fails closed.
    static let unreadableReason =
        "canopyd could not read this connection's peer credentials (SO_PEERCRED), so it refuses it"

    /// The peer credentials of an accepted Unix-socket connection channel.
    static func of(_ channel: any Channel) -> EventLoopFuture<PeerCredential> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        return provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
    }
}
