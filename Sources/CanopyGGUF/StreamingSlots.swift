#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CanopyKernels

/// Physical memory reused by streamed weights: `count` slots of `slotBytes` each in one
/// anonymous shared-memory file (`memfd_create`). Filling a streamed unit maps a free slot
/// onto the unit's whole pages before the file's bytes are read into them; releasing it maps
/// untouched anonymous memory back over those pages and frees the slot. So a unit read again
/// lands in pages that already exist, instead of the kernel faulting in, charging and zeroing
/// fresh pages for every read and freeing them after (measured: that doubled a streamed
/// read's CPU time, 0.62 against 0.31 CPU-seconds per GB, CPU the forward pass needs).
///
/// Memory: `count * slotBytes` once each slot has been used, whether mapped or not (the
/// streaming window the placement budgets for).
///
/// Linux only: elsewhere, or when the memory cannot be had, `init` returns nil and streamed
/// pages are faulted in and given back as before.
///
/// Invariant: a slot is either free or mapped onto the pages of exactly one unit (`held`);
/// a slot whose pages could not be mapped away is never handed out again (its unit's
/// addresses would alias another unit's weights).
final class StreamingSlots: Sendable {
    /// Bytes of each slot: the largest unit's whole pages.
    let slotBytes: Int
    /// Number of slots.
    let count: Int
    private let descriptor: Int32
    private struct State: Sendable {
        var free: [Int]
        /// Per unit (keyed by its first range's start), the slot mapped onto it.
        var held: [Int: Int] = [:]
    }
    private let state: Locked<State>

    /// Reserves `count` slots of `slotBytes` (rounded up to whole pages), or nil when there
    /// is no `memfd_create` or the memory cannot be allocated.
    init?(count: Int, slotBytes: Int) {
        let page = GGUFStorage.pageSize
        let bytes = (slotBytes + page - 1) / page * page
        guard count > 0, bytes > 0, let create = StreamingSlots.memfdCreate else { return nil }
        let descriptor = create("canopy-streamed-weights", 1 /* MFD_CLOEXEC */)
        guard descriptor >= 0 else { return nil }
        // Allocated now, so running short of memory shows here (and streaming falls back to
        // faulting pages in) rather than as SIGBUS on a page of a mapped slot later.
        guard ftruncate(descriptor, off_t(count * bytes)) == 0,
              posix_fallocate(descriptor, 0, off_t(count * bytes)) == 0
        else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
        self.count = count
        self.slotBytes = bytes
        state = Locked(State(free: Array((0..<count).reversed())))
    }

    deinit { close(descriptor) }

    /// Maps a free slot onto `spans` (page-aligned, disjoint, in total at most `slotBytes`)
    /// of the memory starting at `base`, for the unit keyed `key`. Returns false, mapping
    /// nothing, when no slot is free or mapping fails: the caller then uses the pages there.
    func attach(key: Int, spans: [Range<Int>], base: UnsafeMutableRawPointer) -> Bool {
        guard let slot = state.withLock({ $0.free.popLast() }) else { return false }
        var offset = 0
        var mapped: [Range<Int>] = []
        for span in spans where !span.isEmpty {
            let address = mmap(
                base + span.lowerBound, span.count, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_FIXED | MAP_POPULATE, descriptor, off_t(slot * slotBytes + offset))
            guard address != MAP_FAILED else {
                let restored = mapped.allSatisfy { Self.mapAnonymous(base + $0.lowerBound, $0.count) }
                // A span that failed to map keeps its old pages (MAP_FIXED failed before
                // replacing them), so only the mapped ones need undoing.
                if restored { state.withLock { $0.free.append(slot) } }
                return false
            }
            mapped.append(span)
            offset += span.count
        }
        state.withLock { $0.held[key] = slot }
        return true
    }

    /// Maps fresh anonymous memory back over `spans` if unit `key` holds a slot, and frees
    /// the slot. Returns false when the unit holds none (its pages are the caller's to free).
    func detach(key: Int, spans: [Range<Int>], base: UnsafeMutableRawPointer) -> Bool {
        guard let slot = state.withLock({ $0.held.removeValue(forKey: key) }) else { return false }
        let restored = spans.filter { !$0.isEmpty }.allSatisfy { Self.mapAnonymous(base + $0.lowerBound, $0.count) }
        if restored { state.withLock { $0.free.append(slot) } }
        return true
    }

    /// Untouched private anonymous memory over `length` bytes at `address` (no pages until
    /// written): what a streamed range is while released.
    private static func mapAnonymous(_ address: UnsafeMutableRawPointer, _ length: Int) -> Bool {
        mmap(address, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED
    }

    /// glibc's `memfd_create`, looked up at run time (the Swift Glibc module does not declare it).
    private static let memfdCreate: (@convention(c) (UnsafePointer<CChar>, UInt32) -> Int32)? = {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "memfd_create") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafePointer<CChar>, UInt32) -> Int32).self)
        #else
        return nil
        #endif
    }()
}
