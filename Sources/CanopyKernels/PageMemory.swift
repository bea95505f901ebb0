#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif

/// Zero-filled memory mapped straight from the OS, for large long-lived buffers (KV arenas,
/// forward-pass scratch).
///
/// Why not the heap: glibc serves a large block from the heap once an earlier one of that
/// size was freed (its mmap threshold adapts), and such blocks tend to stay resident after
/// they are freed; a mapping is returned to the OS the moment it is released. Pages cost
/// memory only once touched, so an arena sized for the worst case costs what is used.
public final class PageMemory: @unchecked Sendable {
    /// Start of the mapping; page aligned. `@unchecked Sendable`: the owner decides who writes.
    public let base: UnsafeMutableRawPointer
    /// Bytes mapped.
    public let byteCount: Int

    /// Maps `byteCount` zero bytes.
    ///
    /// - Precondition: `byteCount > 0` and the system can map it (running out of address
    ///   space is a programmer or configuration error here; sizes are validated upstream).
    public init(byteCount: Int) {
        precondition(byteCount > 0, "PageMemory: empty mapping")
        #if canImport(Darwin)
        let flags = MAP_PRIVATE | MAP_ANON
        #else
        let flags = MAP_PRIVATE | MAP_ANONYMOUS
        #endif
        let mapped = mmap(nil, byteCount, PROT_READ | PROT_WRITE, flags, -1, 0)
        guard let mapped, mapped != MAP_FAILED else {
            preconditionFailure("PageMemory: could not map \(byteCount) bytes (errno \(errno))")
        }
        base = mapped
        self.byteCount = byteCount
    }

    deinit {
        munmap(base, byteCount)
    }
}
