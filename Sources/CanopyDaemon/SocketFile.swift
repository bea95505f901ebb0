import Foundation

/// The Unix socket file canopyd bound: its mode and its removal on exit.
///
/// Removal compares the device and inode recorded at bind, so a daemon that lost its path to
/// someone else (an administrator's replacement, or a newer instance after a forced lock
/// break) never deletes a socket that is not its own. A socket inherited through systemd
/// socket activation belongs to the `.socket` unit and must not be adopted or removed.
///
/// Between `bind` and `adopt` the socket briefly has the umask's mode; the parent
/// directory's 0750 (`SocketPathResolver`, `RuntimeDirectoryMode=`) keeps others out then.
public struct SocketFile: Sendable, Equatable {
    /// The socket's path.
    public let path: String
    /// The device of the bound socket file.
    public let device: UInt64
    /// The inode of the bound socket file.
    public let inode: UInt64

    /// The mode a served socket gets: owner and group may connect, others may not.
    public static let defaultMode: mode_t = 0o660

    /// Records the socket the server has just bound at `path` and sets its mode.
    public static func adopt(path: String, mode: mode_t = defaultMode) throws(DaemonError) -> SocketFile {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw .socketFile(path: path, reason: "cannot stat after bind: \(errnoText(errno))")
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw .socketFile(path: path, reason: "is not a socket")
        }
        guard chmod(path, mode) == 0 else {
            throw .socketFile(path: path, reason: "chmod \(String(mode, radix: 8)): \(errnoText(errno))")
        }
        return SocketFile(path: path, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Removes a leftover socket at `path` before binding; returns whether one was removed.
    ///
    /// Call only while holding the `InstanceLock`: the lock proves no live instance serves
    /// it. Refuses to delete anything that is not a socket.
    @discardableResult
    public static func removeStale(at path: String) throws(DaemonError) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return false }
            throw .socketFile(path: path, reason: "cannot stat: \(errnoText(errno))")
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw .socketFile(path: path, reason: "exists and is not a socket; refusing to replace it")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw .socketFile(path: path, reason: "cannot remove the stale socket: \(errnoText(errno))")
        }
        return true
    }

    /// Whether the file at `path` is still the socket this process bound.
    public var isStillOurs: Bool {
        var info = stat()
        return lstat(path, &info) == 0 && UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
            && info.st_mode & S_IFMT == S_IFSOCK
    }

    /// Unlinks the socket if it is still ours; returns whether it did.
    @discardableResult
    public func remove() -> Bool {
        guard isStillOurs else { return false }
        return unlink(path) == 0
    }
}
