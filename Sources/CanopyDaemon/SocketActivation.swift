import Foundation

/// Sockets passed in by systemd socket activation (`canopyd.socket`).
///
/// systemd sets `$LISTEN_PID` (the pid meant to take them), `$LISTEN_FDS` (how many; they
/// start at fd 3) and optionally `$LISTEN_FDNAMES` (colon-separated names, from
/// `FileDescriptorName=`, defaulting to the socket unit's name). Variables addressed to
/// another pid are ignored, as `sd_listen_fds` does, since they leaked from a parent.
public struct SocketActivation: Sendable, Equatable {
    /// The first inherited descriptor (`SD_LISTEN_FDS_START`).
    public static let firstDescriptor: Int32 = 3

    /// One inherited listening socket.
    public struct Listener: Sendable, Equatable {
        /// The file descriptor, already listening.
        public let descriptor: Int32
        /// Its `FileDescriptorName=`, or `unknown` when systemd passed no names.
        public let name: String
    }

    /// The inherited sockets, in descriptor order.
    public let listeners: [Listener]

    /// The first listener with `name`, if any.
    public func listener(named name: String) -> Listener? { listeners.first { $0.name == name } }

    /// Parses the activation variables in `environment` without touching any descriptor.
    /// Returns `nil` when there is no activation for `pid`.
    public static func parse(environment: [String: String], pid: pid_t) throws(DaemonError) -> SocketActivation? {
        guard let countText = environment["LISTEN_FDS"], !countText.isEmpty else { return nil }
        guard let pidText = environment["LISTEN_PID"], !pidText.isEmpty else {
            throw .invalidEnvironment(variable: "LISTEN_PID", value: "", reason: "must be set together with LISTEN_FDS")
        }
        guard let target = pid_t(pidText), target > 0 else {
            throw .invalidEnvironment(variable: "LISTEN_PID", value: pidText, reason: "not a pid")
        }
        guard target == pid else { return nil }
        guard let count = Int32(countText), count >= 0, count <= 4096 else {
            throw .invalidEnvironment(variable: "LISTEN_FDS", value: countText, reason: "not a descriptor count")
        }
        guard count > 0 else { return nil }
        var names = Array(repeating: "unknown", count: Int(count))
        if let nameText = environment["LISTEN_FDNAMES"], !nameText.isEmpty {
            let given = nameText.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard given.count == Int(count) else {
                throw .invalidEnvironment(
                    variable: "LISTEN_FDNAMES", value: nameText, reason: "has \(given.count) names for \(count) descriptors")
            }
            names = given
        }
        let listeners = (0..<count).map { Listener(descriptor: firstDescriptor + $0, name: names[Int($0)]) }
        return SocketActivation(listeners: listeners)
    }

    /// Takes this process's activation sockets: parses the environment, checks each
    /// descriptor is a socket, marks it close-on-exec (so a spawned helper never inherits the
    /// listener) and unsets the variables (so children never misread them as their own).
    /// Returns `nil` when the daemon was not socket-activated.
    public static func takeFromProcess() throws(DaemonError) -> SocketActivation? {
        let activation = try parse(environment: ProcessInfo.processInfo.environment, pid: getpid())
        for variable in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] { unsetenv(variable) }
        guard let activation else { return nil }
        for listener in activation.listeners {
            try prepare(descriptor: listener.descriptor)
        }
        return activation
    }

    /// Checks that `descriptor` is a socket and sets `FD_CLOEXEC` on it.
    public static func prepare(descriptor: Int32) throws(DaemonError) {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw .system(call: "fstat(\(descriptor)) of an inherited socket", reason: errnoText(errno))
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw .invalidEnvironment(
                variable: "LISTEN_FDS", value: "\(descriptor)", reason: "descriptor \(descriptor) is not a socket")
        }
        let flags = fcntl(descriptor, F_GETFD)
        guard flags >= 0, fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) == 0 else {
            throw .system(call: "fcntl(\(descriptor), F_SETFD, FD_CLOEXEC)", reason: errnoText(errno))
        }
    }
}
