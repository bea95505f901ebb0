import CCanopyKernels
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

    /// Maps `byteCount` zero bytes, for memory sized once at start-up.
    ///
    /// - Precondition: `byteCount > 0` and the system can map it (sizes are validated
    ///   upstream; a request path uses `init?(mappingUpTo:)` instead).
    public init(byteCount: Int) {
        precondition(byteCount > 0, "PageMemory: empty mapping")
        guard let mapped = Self.map(byteCount) else {
            preconditionFailure("PageMemory: could not map \(byteCount) bytes (errno \(errno))")
        }
        base = mapped
        self.byteCount = byteCount
    }

    /// Maps `byteCount` zero bytes, or returns nil when the system refuses (or the size is
    /// over the fault-injection limit, `canopy_set_growth_limit`): for memory a request
    /// asks for, whose failure must fail the request, not the process.
    ///
    /// - Precondition: `byteCount > 0`.
    public init?(mappingUpTo byteCount: Int) {
        precondition(byteCount > 0, "PageMemory: empty mapping")
        guard canopy_growth_allowed(byteCount) != 0, let mapped = Self.map(byteCount) else { return nil }
        base = mapped
        self.byteCount = byteCount
    }

    private static func map(_ byteCount: Int) -> UnsafeMutableRawPointer? {
        #if canImport(Darwin)
        let flags = MAP_PRIVATE | MAP_ANON
        #else
        let flags = MAP_PRIVATE | MAP_ANONYMOUS
        #endif
        let mapped = mmap(nil, byteCount, PROT_READ | PROT_WRITE, flags, -1, 0)
        guard let mapped, mapped != MAP_FAILED else { return nil }
        return mapped
    }

    deinit {
        munmap(base, byteCount)
    }
}
