#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value only reachable under a lock: the project's mutex, with `Synchronization.Mutex`'s
/// `withLock` API.
///
/// Built on `pthread_mutex_t` rather than `Mutex` so that ThreadSanitizer sees every
/// acquisition: a contended `Mutex` hands over through a futex in the kernel, which it does
/// not see, and it then reports two accesses made under the same lock as a race
/// (scripts/tsan-mutex-false-positive.sh), which would leave `make test-sanitize` unable to
/// check the code that locks. Uncontended, both cost an atomic exchange to lock and unlock.
///
/// The lock is not recursive: `body` must not call `withLock` on the same instance.
public final class Locked<Value>: @unchecked Sendable {
    // The mutex lives at a fixed address of its own: a pthread mutex must never move.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    /// A lock guarding `value`.
    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` on the value with the lock held and returns what it returns; the lock is
    /// released however `body` exits.
    public func withLock<Result, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
