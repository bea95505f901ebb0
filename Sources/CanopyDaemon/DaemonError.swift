/// Why the daemon's process plumbing (socket, lock, systemd integration) failed.
///
/// Every message names the path or variable involved and, where one exists, the fix.
public enum DaemonError: Error, CustomStringConvertible, Equatable {
    /// No socket path was given and none could be derived from the environment.
    case noSocketPath
    /// A socket path exceeds what `sockaddr_un` can hold (107 bytes plus the terminator).
    case socketPathTooLong(path: String, limit: Int)
    /// A directory could not be created or inspected.
    case directory(path: String, reason: String)
    /// Another process holds the instance lock.
    case alreadyRunning(lockPath: String, pid: Int32?)
    /// The lock file could not be opened or locked for a reason other than contention.
    case lockFailed(lockPath: String, reason: String)
    /// A socket file could not be inspected or its mode changed.
    case socketFile(path: String, reason: String)
    /// An environment variable set by systemd has a value that cannot be parsed.
    case invalidEnvironment(variable: String, value: String, reason: String)
    /// A system call on a socket failed.
    case system(call: String, reason: String)

    public var description: String {
        switch self {
        case .noSocketPath:
            return "no socket path: neither $RUNTIME_DIRECTORY nor $XDG_RUNTIME_DIR is set and "
                + "the daemon is not running as root under systemd; pass --socket PATH"
        case .socketPathTooLong(let path, let limit):
            return "socket path '\(path)' is \(path.utf8.count) bytes; Unix sockets allow at most \(limit); "
                + "pass a shorter --socket"
        case .directory(let path, let reason):
            return "cannot prepare directory \(path): \(reason)"
        case .alreadyRunning(let lockPath, let pid):
            let holder = pid.map { "process \($0)" } ?? "another process"
            return "another canopyd instance (\(holder)) holds \(lockPath) and serves its socket; "
                + "stop it first or pass a different --socket"
        case .lockFailed(let lockPath, let reason):
            return "cannot lock \(lockPath): \(reason)"
        case .socketFile(let path, let reason):
            return "socket file \(path): \(reason)"
        case .invalidEnvironment(let variable, let value, let reason):
            return "environment variable \(variable)='\(value)' is invalid: \(reason)"
        case .system(let call, let reason):
            return "\(call) failed: \(reason)"
        }
    }
}

/// The text of the current `errno`, e.g. `Permission denied (errno 13)`.
func errnoText(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
