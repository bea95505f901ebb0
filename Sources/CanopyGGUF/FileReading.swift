#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Why ``preadFully(_:into:count:at:)`` stopped short.
public enum PartialRead: Error, Sendable, Equatable {
    /// The file ended at absolute offset `at`.
    case endOfFile(at: Int)
    /// `pread` failed at absolute offset `at` (`reason` is `strerror`).
    case failed(at: Int, reason: String)

    /// The message for a read of `what` from `path` that stopped here, e.g. "cannot read
    /// layer 3 from /m.gguf at offset 4096: unexpected end of file".
    public func message(reading what: String, from path: String) -> String {
        switch self {
        case .endOfFile(let at): return "cannot read \(what) from \(path) at offset \(at): unexpected end of file"
        case .failed(let at, let reason): return "cannot read \(what) from \(path) at offset \(at): \(reason)"
        }
    }
}

/// Reads `count` bytes at file offset `offset` of `descriptor` into `destination`, retrying
/// short reads and `EINTR`, in pieces of at most 1 GiB (Linux caps one `pread`).
///
/// - Returns: nil when every byte arrived, else where and why the read stopped.
public func preadFully(_ descriptor: Int32, into destination: UnsafeMutableRawPointer, count: Int, at offset: Int) -> PartialRead? {
    if FileReadFaults.failsThisRead() { return .failed(at: offset, reason: FileReadFaults.reason) }
    var done = 0
    while done < count {
        let n = pread(descriptor, destination + done, min(count - done, 1 << 30), off_t(offset + done))
        if n > 0 {
            done += n
        } else if n < 0 && errno == EINTR {
            continue
        } else if n == 0 {
            return .endOfFile(at: offset + done)
        } else {
            return .failed(at: offset + done, reason: String(cString: strerror(errno)))
        }
    }
    return nil
}

/// Fault injection for tests: makes one read of ``preadFully(_:into:count:at:)`` (every read of
/// a model file after load goes through it) fail as an I/O error would, so a test can fail
/// each read of a request in turn (SQLite's discipline). Process-wide: tests that arm it run
/// in a process of their own.
public enum FileReadFaults {
    private static let reads = Atomic<Int>(0)
    private static let failing = Atomic<Int>(0)

    /// The error text of an injected failure.
    public static let reason = "injected read fault"

    /// Reads started since the process started (every thread). Monotonic.
    public static var readCount: Int { reads.load(ordering: .relaxed) }

    /// The `n`-th read from now (1-based) fails, once; nil disarms.
    public static func failRead(after n: Int?) {
        failing.store(n.map { readCount + max(1, $0) } ?? 0, ordering: .relaxed)
    }

    /// Counts a read and says whether it is the one to fail.
    static func failsThisRead() -> Bool {
        let number = reads.add(1, ordering: .relaxed).newValue
        return number == failing.load(ordering: .relaxed)
    }
}
