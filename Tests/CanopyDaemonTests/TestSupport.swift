import CanopyKernels
import Foundation
import Synchronization
import Testing

/// A fresh directory under /tmp (short, so socket paths fit in `sun_path`), removed on deinit.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/canopyd-test-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed: errno \(errno)")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Creates an `AF_UNIX` socket of `type` bound to `path` (`@name` binds an abstract name).
func bindUnixSocket(path: String, type: Int32) -> Int32 {
    let fd = socket(AF_UNIX, type, 0)
    precondition(fd >= 0, "socket failed: errno \(errno)")
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    var bytes = Array(path.utf8)
    let abstract = bytes.first == UInt8(ascii: "@")
    if abstract { bytes[0] = 0 }
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
    let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstract ? 0 : 1)
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
    }
    precondition(result == 0, "bind \(path) failed: errno \(errno)")
    return fd
}

/// Receives one datagram from `fd`, waiting at most `timeoutMilliseconds`; `nil` on timeout.
func receiveDatagram(_ fd: Int32, timeoutMilliseconds: Int32 = 2000) -> String? {
    var pollDescriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&pollDescriptor, 1, timeoutMilliseconds) == 1 else { return nil }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    guard count >= 0 else { return nil }
    return String(decoding: buffer[..<count], as: UTF8.self)
}

let streamType = Int32(SOCK_STREAM.rawValue)
let datagramType = Int32(SOCK_DGRAM.rawValue)

/// A thread-safe counter that closures can capture (an `Atomic` local cannot be captured by
/// an escaping closure).
final class Counter: Sendable {
    private let storage = Locked(0)
    func increment() { storage.withLock { $0 += 1 } }
    func set(_ value: Int) { storage.withLock { $0 = value } }
    var value: Int { storage.withLock { $0 } }
}
