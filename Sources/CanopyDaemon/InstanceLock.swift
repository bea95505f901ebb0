import CanopyKernels
import Foundation

/// An exclusive lock on `<socket>.lock` proving this process owns the socket path.
///
/// Without it a second instance would unlink and rebind the socket of a running one. The
/// lock is `flock(LOCK_EX | LOCK_NB)` on an open file description, so it is held until
/// `release()`, deinit or process exit (the kernel drops it even after a crash, so a stale
/// file never blocks a restart). The holder's pid is written into the file so the refusal
/// can name it.
///
/// The file itself is deliberately not unlinked on release: unlinking races with a starting
/// instance that has opened the old inode, letting two processes each lock a different
/// file. An empty leftover file is harmless.
public final class InstanceLock: Sendable {
    /// The lock file's path.
    public let path: String
    private let descriptor: Locked<Int32>

    /// The lock file path for a socket path.
    public static func lockPath(forSocket socketPath: String) -> String { socketPath + ".lock" }

    /// Takes the lock for `socketPath`, or throws `.alreadyRunning` naming the holder's pid.
    public convenience init(socketPath: String) throws(DaemonError) {
        try self.init(lockPath: Self.lockPath(forSocket: socketPath))
    }

    /// Takes the lock on the file at `lockPath`, creating it (mode 0644) if needed.
    ///
    /// The daemon often runs as root in a directory others can write to, and it truncates and
    /// writes the file it opens; so it refuses to follow a symbolic link at `lockPath`
    /// (`O_NOFOLLOW`) and takes only a regular file with one link owned by its own user.
    /// Anything else there was not made by canopyd and is reported, never written.
    public init(lockPath: String) throws(DaemonError) {
        path = lockPath
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o644)
        guard fd >= 0 else {
            let code = errno
            let reason = code == ELOOP
                ? "it is a symbolic link; canopyd never writes through one (remove it if you made it)"
                : errnoText(code)
            throw .lockFailed(lockPath: lockPath, reason: reason)
        }
        if let problem = Self.foreignFileProblem(fd) {
            close(fd)
            throw .lockFailed(lockPath: lockPath, reason: problem)
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            let holder = code == EWOULDBLOCK ? Self.readPID(fd) : nil
            close(fd)
            if code == EWOULDBLOCK { throw .alreadyRunning(lockPath: lockPath, pid: holder) }
            throw .lockFailed(lockPath: lockPath, reason: errnoText(code))
        }
        let text = Array("\(getpid())\n".utf8)
        let written = text.withUnsafeBytes { ftruncate(fd, 0) == 0 ? pwrite(fd, $0.baseAddress, $0.count, 0) : -1 }
        guard written == text.count else {
            let reason = errnoText(errno)
            close(fd)
            throw .lockFailed(lockPath: lockPath, reason: "cannot write the pid: \(reason)")
        }
        descriptor = Locked(fd)
    }

    deinit { release() }

    /// Whether this object still holds the lock.
    public var isHeld: Bool { descriptor.withLock { $0 >= 0 } }

    /// Clears the pid and drops the lock. Safe to call more than once.
    public func release() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            _ = ftruncate(fd, 0)
            close(fd)
            fd = -1
        }
    }

    /// The pid recorded in the lock file by its holder, if it is readable.
    public static func holderPID(lockPath: String) -> Int32? {
        let fd = open(lockPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return readPID(fd)
    }

    /// Why the open file is not one canopyd could have made (nil when it is): not a regular
    /// file (a FIFO or device would block or be written), a hard link to another file, or
    /// owned by another user.
    private static func foreignFileProblem(_ fd: Int32) -> String? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return "fstat: \(errnoText(errno))" }
        if info.st_mode & S_IFMT != S_IFREG { return "it is not a regular file; remove it" }
        if info.st_nlink != 1 { return "it has \(info.st_nlink) hard links, so writing it would change another file; remove it" }
        if info.st_uid != geteuid() {
            return "it belongs to uid \(info.st_uid), not to canopyd's uid \(geteuid()); remove it"
        }
        return nil
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(text), pid > 0 else { return nil }
        return pid
    }
}
