import Glibc
import NIOCore

/// Decides, from a connected peer's kernel-verified identity (`SO_PEERCRED`: pid, uid and
/// primary gid), whether its RPCs are served.
///
/// Returns `nil` to serve the peer, or the message it gets with status PERMISSION_DENIED.
/// It is called once per RPC on the server's event loop, so it must be cheap and must not
/// block. CanopyRPC does not know the daemon's `AccessPolicy`; the daemon passes its
/// decision in as this closure.
public typealias PeerFilter = @Sendable (_ pid: pid_t, _ uid: uid_t, _ gid: gid_t) -> String?

/// What `filter` says about the peer of `channel`, an accepted Unix-socket connection: nil to
/// serve it, else the refusal message. Credentials that cannot be read refuse the peer
/// (access control fails closed). For front ends other than gRPC on the same policy (the
/// HTTP API on a Unix socket).
public func peerRefusal(of channel: any Channel, filter: PeerFilter) async -> String? {
    do {
        let peer = try await PeerCredential.of(channel).get()
        return filter(peer.pid, peer.uid, peer.gid)
    } catch {
        return PeerCredential.unreadableReason
    }
}
