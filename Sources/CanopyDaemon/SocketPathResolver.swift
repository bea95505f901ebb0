import Foundation

/// Decides where canopyd's Unix socket lives.
///
/// Order: an explicit path (flag or config) > `$RUNTIME_DIRECTORY/canopyd.sock` (systemd's
/// `RuntimeDirectory=`; the first entry when several are listed) > `/run/canopy/canopyd.sock`
/// when running as root under systemd (`$INVOCATION_ID` set) >
/// `$XDG_RUNTIME_DIR/canopy/canopyd.sock` > an error asking for `--socket`.
///
/// The resolver reads only the environment it is given, so tests can pass a fake one.
public struct SocketPathResolver: Sendable {
    /// The socket's file name inside a runtime directory.
    public static let socketName = "canopyd.sock"
    /// The system-wide runtime directory used by root services without `RuntimeDirectory=`.
    public static let systemRuntimeDirectory = "/run/canopy"
    /// The longest path `sockaddr_un.sun_path` holds, excluding the terminating NUL.
    public static let maxPathBytes = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// The environment consulted.
    public var environment: [String: String]
    /// The effective user id, deciding whether `/run/canopy` is writable.
    public var effectiveUID: uid_t

    /// A resolver for the given environment and user (by default, this process's).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, effectiveUID: uid_t = geteuid()) {
        self.environment = environment
        self.effectiveUID = effectiveUID
    }

    /// The socket path, without touching the file system.
    public func resolve(explicit: String?) throws(DaemonError) -> String {
        let path = try choose(explicit: explicit)
        guard path.utf8.count <= Self.maxPathBytes else {
            throw .socketPathTooLong(path: path, limit: Self.maxPathBytes)
        }
        return path
    }

    private func choose(explicit: String?) throws(DaemonError) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let runtime = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first, !runtime.isEmpty {
            return join(String(runtime), Self.socketName)
        }
        if effectiveUID == 0, let invocation = environment["INVOCATION_ID"], !invocation.isEmpty {
            return join(Self.systemRuntimeDirectory, Self.socketName)
        }
        if let xdg = environment["XDG_RUNTIME_DIR"], !xdg.isEmpty {
            return join(join(xdg, "canopy"), Self.socketName)
        }
        throw .noSocketPath
    }

    private func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Creates the socket's parent directory (and missing ancestors) with mode 0750.
    ///
    /// Existing directories keep their mode: under systemd `RuntimeDirectoryMode=` owns it.
    public static func prepareParentDirectory(of socketPath: String) throws(DaemonError) {
        let parent = (socketPath as NSString).deletingLastPathComponent
        guard !parent.isEmpty else { return }
        try makeDirectories(parent)
    }

    private static func makeDirectories(_ path: String) throws(DaemonError) {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw .directory(path: path, reason: "exists and is not a directory")
            }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path { try makeDirectories(parent) }
        if mkdir(path, 0o750) != 0 && errno != EEXIST {
            throw .directory(path: path, reason: errnoText(errno))
        }
        // mkdir's mode is filtered by the umask; the directory must not be world-readable.
        if chmod(path, 0o750) != 0 {
            throw .directory(path: path, reason: "chmod 0750: \(errnoText(errno))")
        }
    }
}
