import Foundation

/// systemd's `sd_notify` protocol, implemented directly (no libsystemd): each message is one
/// datagram of newline-separated `KEY=VALUE` assignments sent to the `AF_UNIX` socket named by
/// `$NOTIFY_SOCKET`. A name starting with `@` is an abstract socket (the `@` becomes a NUL).
///
/// Outside systemd (`$NOTIFY_SOCKET` unset) every call is a no-op returning `false`, so the
/// daemon calls these unconditionally.
public struct SystemdNotifier: Sendable {
    /// The notification socket address, or `nil` when not supervised by systemd.
    public let socketPath: String?

    /// A notifier for `environment`'s `$NOTIFY_SOCKET` (by default this process's).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let value = environment["NOTIFY_SOCKET"] ?? ""
        socketPath = value.isEmpty ? nil : value
    }

    /// A notifier sending to `socketPath` (`@name` for an abstract socket).
    public init(socketPath: String?) {
        self.socketPath = socketPath
    }

    /// Whether messages go anywhere.
    public var isEnabled: Bool { socketPath != nil }

    /// `READY=1`: startup finished (model loaded, socket listening); with an optional status.
    @discardableResult
    public func ready(status: String? = nil) throws(DaemonError) -> Bool {
        try send(["READY=1"] + (status.map { ["STATUS=\($0)"] } ?? []) + ["MAINPID=\(getpid())"])
    }

    /// `STOPPING=1`: shutdown began.
    @discardableResult
    public func stopping(status: String? = nil) throws(DaemonError) -> Bool {
        try send(["STOPPING=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// `STATUS=...`: a one-line status shown by `systemctl status`.
    @discardableResult
    public func status(_ text: String) throws(DaemonError) -> Bool {
        try send(["STATUS=\(text)"])
    }

    /// `WATCHDOG=1`: the service is alive.
    @discardableResult
    public func watchdog() throws(DaemonError) -> Bool {
        try send(["WATCHDOG=1"])
    }

    /// `EXTEND_TIMEOUT_USEC=...`: asks for more time before systemd's start/stop timeout
    /// fires, for a long model load or drain.
    @discardableResult
    public func extendTimeout(by duration: Duration) throws(DaemonError) -> Bool {
        let (seconds, attoseconds) = duration.components
        let microseconds = max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        return try send(["EXTEND_TIMEOUT_USEC=\(microseconds)"])
    }

    /// Sends `assignments` as one datagram. Returns `false` when `$NOTIFY_SOCKET` is unset.
    @discardableResult
    public func send(_ assignments: [String]) throws(DaemonError) -> Bool {
        guard let socketPath else { return false }
        precondition(assignments.allSatisfy { !$0.contains("\n") }, "sd_notify assignments are single lines")
        var address = try Self.address(for: socketPath)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system(call: "socket(AF_UNIX, SOCK_DGRAM)", reason: errnoText(errno)) }
        defer { close(fd) }
        let message = Array(assignments.joined(separator: "\n").utf8)
        let sent = message.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address.storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0, address.length)
                }
            }
        }
        guard sent == message.count else {
            throw .system(call: "sendto(\(socketPath))", reason: errnoText(errno))
        }
        return true
    }

    /// The `sockaddr_un` for a `$NOTIFY_SOCKET` value and the length to pass with it.
    static func address(for path: String) throws(DaemonError) -> (storage: sockaddr_un, length: socklen_t) {
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        guard abstract || bytes.first == UInt8(ascii: "/") else {
            throw .invalidEnvironment(
                variable: "NOTIFY_SOCKET", value: path, reason: "only absolute paths and @abstract names are supported")
        }
        if abstract { bytes[0] = 0 }
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: storage.sun_path)
        // A path needs its terminating NUL to fit; an abstract name is length-delimited.
        guard bytes.count + (abstract ? 0 : 1) <= capacity else {
            throw .invalidEnvironment(variable: "NOTIFY_SOCKET", value: path, reason: "longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &storage.sun_path) { sunPath in
            sunPath.copyBytes(from: bytes)
        }
        let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        let length = offset + bytes.count + (abstract ? 0 : 1)
        return (storage, socklen_t(length))
    }
}
