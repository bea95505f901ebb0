import Foundation

/// The process on the other end of a connected Unix socket, as the kernel recorded it when
/// the connection was made (`SO_PEERCRED`); the peer cannot forge it.
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    /// The peer's process id at connect time (0 if it lives in another pid namespace the
    /// kernel cannot map).
    public let pid: pid_t
    /// The peer's effective user id.
    public let uid: uid_t
    /// The peer's effective primary group id.
    public let gid: gid_t

    /// Credentials with the given ids (for tests and policies).
    public init(pid: pid_t, uid: uid_t, gid: gid_t) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// Reads `SO_PEERCRED` from a connected `AF_UNIX` socket.
    public init(socket descriptor: Int32) throws(DaemonError) {
        var credentials = LinuxUcred()
        var length = socklen_t(MemoryLayout<LinuxUcred>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else {
            throw .system(call: "getsockopt(\(descriptor), SO_PEERCRED)", reason: errnoText(errno))
        }
        guard length == socklen_t(MemoryLayout<LinuxUcred>.size) else {
            throw .system(call: "getsockopt(\(descriptor), SO_PEERCRED)", reason: "returned \(length) bytes, not a ucred")
        }
        self.init(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
    }

    /// `pid=123 uid=1000 gid=1000`, for log lines.
    public var description: String { "pid=\(pid) uid=\(uid) gid=\(gid)" }
}

/// Linux's `struct ucred` (`pid_t pid; uid_t uid; gid_t gid;`). Glibc declares it only under
/// `_GNU_SOURCE`, which Swift's Glibc module does not define, so the layout is restated here.
private struct LinuxUcred {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
}
