#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of a GGUF file: a read-only private memory mapping of the file, the file read
/// into memory of the process's own (``readIntoMemory(skipping:)``), or an owned,
/// page-aligned copy of an in-memory buffer. The memory is released in `deinit`.
///
/// A file opened by path stays open, so ``changeSinceOpen(path:)`` can tell whether the inode that
/// was loaded has since been truncated or rewritten.
///
/// `@unchecked Sendable`: the bytes are never written after they are published (the mapping
/// is `PROT_READ`; copies are filled first, and ``readIntoMemory(skipping:streaming:path:)``
/// runs before the storage is shared), except streamed ranges, which their one owner (the
/// model's weight residency) fills and releases under its own lock while no reader uses them.
final class GGUFStorage: @unchecked Sendable {
    private(set) var bytes: UnsafeRawBufferPointer
    private let isMapped: Bool
    /// Reused memory for streamed units, set by ``readIntoMemory(skipping:streaming:streamingWindow:path:)``.
    private var slots: StreamingSlots?
    /// The open file (-1 for in-memory storage) and what `fstat` said when it was opened.
    private let descriptor: Int32
    private let openedAs: stat

    /// Page alignment for copies, so tensor data in a copy is aligned as well as in a mapping.
    private static let copyAlignment = 4096

    /// Maps the file at `path` read-only with `MAP_PRIVATE`.
    init(mapping path: String) throws(GGUFError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, reason: Self.errorText()) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let reason = Self.errorText()
            close(descriptor)
            throw .cannotOpen(path: path, reason: reason)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw .cannotOpen(path: path, reason: "not a regular file")
        }
        self.descriptor = descriptor
        openedAs = info
        let size = Int(info.st_size)
        guard size > 0 else {
            // mmap rejects empty lengths; an empty file is reported by the parser as truncated.
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            isMapped = false
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
            let reason = Self.errorText()
            close(descriptor)
            throw .cannotOpen(path: path, reason: "mmap failed: \(reason)")
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
        isMapped = true
    }

    /// Replaces the file mapping by the file's bytes read (`pread`) into anonymous memory, so
    /// nothing done to the file afterwards (truncated, rewritten in place) can reach these
    /// bytes: a mapped page of a truncated file raises SIGBUS on access, and a rewritten one
    /// changes under the reader. Ranges in `skipping` are left unread (zero pages that cost no
    /// memory), for data read from the file on demand instead (routed experts).
    ///
    /// The units in `streaming` (each a list of ranges read and released together) are
    /// skipped too but stay writable: ``readStreamed(_:)`` fills a unit on demand and
    /// ``releaseStreamed(_:)`` gives its memory back (weights streamed under a memory
    /// budget). With `streamingWindow` > 0 (how many units are filled at once at most),
    /// that many slots of reused memory (``StreamingSlots``) back the units while filled.
    ///
    /// Must run before any other thread reads ``bytes``. Does nothing for in-memory storage.
    ///
    /// - Throws: ``GGUFError/cannotOpen(path:reason:)`` when reading fails or the file shrank
    ///   since it was opened.
    func readIntoMemory(
        skipping: [Range<Int>], streaming units: [[Range<Int>]] = [], streamingWindow: Int = 0, path: String
    ) throws(GGUFError) {
        guard descriptor >= 0, isMapped, let mapped = bytes.baseAddress else { return }
        let streaming = units.flatMap { $0 }
        let size = bytes.count
        guard let raw = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            throw .cannotOpen(path: path, reason: "cannot reserve \(size) bytes for the model: \(Self.errorText())")
        }
        // Read the gaps between the skipped ranges (sorted), up to the end of the file.
        var start = 0
        for range in ((skipping + streaming).sorted { $0.lowerBound < $1.lowerBound }) + [size..<size] {
            let end = min(max(range.lowerBound, start), size)
            if let failure = preadFully(descriptor, into: raw + start, count: end - start, at: start) {
                munmap(raw, size)
                switch failure {
                case .endOfFile(let at): throw .cannotOpen(path: path, reason: "the file shrank to \(at) bytes while loading")
                case .failed(_, let reason): throw .cannotOpen(path: path, reason: reason)
                }
            }
            start = max(end, min(range.upperBound, size))
        }
        mprotect(raw, size, PROT_READ)
        for range in streaming where !range.isEmpty {
            // Whole pages: a boundary page shared with a resident neighbour becomes writable
            // too, but only the streamed bytes in it are ever written.
            let pages = Self.pages(covering: range)
            mprotect(raw + pages.lowerBound, pages.count, PROT_READ | PROT_WRITE)
        }
        munmap(UnsafeMutableRawPointer(mutating: mapped), size)
        bytes = UnsafeRawBufferPointer(start: raw, count: size)
        let largestUnit = units.map { $0.reduce(0) { $0 + Self.wholePages(in: $1).count } }.max() ?? 0
        slots = streamingWindow > 0 && largestUnit > 0 ? StreamingSlots(count: streamingWindow, slotBytes: largestUnit) : nil
    }

    /// Reads the file's bytes of `unit` (one passed as `streaming` to
    /// ``readIntoMemory(skipping:streaming:streamingWindow:path:)``) into the same place in
    /// ``bytes``, on a free slot's pages when there is one, then drops them from the kernel's
    /// page cache, so streamed weights cost a read each time rather than hiding in (and
    /// growing) the page cache. Returns nil, or why it failed.
    func readStreamed(_ unit: [Range<Int>]) -> PartialRead? {
        guard let base = bytes.baseAddress, let key = unit.first?.lowerBound else { return nil }
        let writable = UnsafeMutableRawPointer(mutating: base)
        _ = slots?.attach(key: key, spans: unit.map(Self.wholePages(in:)), base: writable)
        for range in unit {
            if let failure = readCopy(range, into: writable + range.lowerBound) { return failure }
        }
        return nil
    }

    /// Reads the file's bytes of `range` into `destination` (a buffer of the caller's, or
    /// their place in ``bytes`` for ``readStreamed(_:)``), then drops them from the kernel's
    /// page cache. Returns nil, or why it failed.
    func readCopy(_ range: Range<Int>, into destination: UnsafeMutableRawPointer) -> PartialRead? {
        guard descriptor >= 0, !range.isEmpty else { return nil }
        let failure = preadFully(descriptor, into: destination, count: range.count, at: range.lowerBound)
        #if canImport(Glibc)
        _ = posix_fadvise(descriptor, off_t(range.lowerBound), off_t(range.count), Int32(POSIX_FADV_DONTNEED))
        #endif
        return failure
    }

    /// Gives the memory of `unit` back to the system (its slot, or its whole pages; the pages
    /// it shares with neighbouring data stay): the bytes read as zero until
    /// ``readStreamed(_:)`` again.
    func releaseStreamed(_ unit: [Range<Int>]) {
        guard let base = bytes.baseAddress, let key = unit.first?.lowerBound else { return }
        let writable = UnsafeMutableRawPointer(mutating: base)
        let spans = unit.map(Self.wholePages(in:))
        if slots?.detach(key: key, spans: spans, base: writable) == true { return }
        for span in spans where !span.isEmpty { madvise(writable + span.lowerBound, span.count, MADV_DONTNEED) }
    }

    /// The whole pages inside `range` (empty when it spans none).
    private static func wholePages(in range: Range<Int>) -> Range<Int> {
        let page = pageSize
        let first = (range.lowerBound + page - 1) / page * page
        return first..<max(first, range.upperBound / page * page)
    }

    /// The system's page size (mappings, `madvise` and streaming slots work in whole pages).
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// The whole pages that hold `range`.
    private static func pages(covering range: Range<Int>) -> Range<Int> {
        let page = pageSize
        return (range.lowerBound / page * page)..<((range.upperBound + page - 1) / page * page)
    }

    /// How the opened file differs from when it was opened (nil when it does not): its size
    /// or modification time changed (truncated or written in place), or `path` now names
    /// another file (replaced). In-memory storage never changes.
    func changeSinceOpen(path: String) -> String? {
        guard descriptor >= 0 else { return nil }
        var now = stat()
        guard fstat(descriptor, &now) == 0 else { return "fstat failed: \(Self.errorText())" }
        if now.st_size != openedAs.st_size {
            return "its size changed from \(openedAs.st_size) to \(now.st_size) bytes"
        }
        if now.st_mtim.tv_sec != openedAs.st_mtim.tv_sec || now.st_mtim.tv_nsec != openedAs.st_mtim.tv_nsec {
            return "it was modified in place"
        }
        var named = stat()
        if stat(path, &named) != 0 { return "\(path) was removed" }
        if named.st_ino != openedAs.st_ino || named.st_dev != openedAs.st_dev { return "\(path) was replaced by another file" }
        return nil
    }

    /// Copies `source` into freshly allocated, page-aligned memory.
    init(copying source: [UInt8]) {
        let memory = UnsafeMutableRawBufferPointer.allocate(
            byteCount: max(source.count, 1), alignment: Self.copyAlignment)
        source.withUnsafeBytes { memory.copyMemory(from: $0) }
        bytes = UnsafeRawBufferPointer(start: memory.baseAddress, count: source.count)
        isMapped = false
        descriptor = -1
        openedAs = stat()
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
        guard let base = bytes.baseAddress else { return }
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    private static func errorText() -> String {
        String(cString: strerror(errno))
    }
}
