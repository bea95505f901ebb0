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
/// is `PROT_READ`; copies are filled first, and ``readIntoMemory(skipping:)`` runs before the
/// storage is shared), so sharing across threads is safe.
final class GGUFStorage: @unchecked Sendable {
    private(set) var bytes: UnsafeRawBufferPointer
    private let isMapped: Bool
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
    /// Must run before any other thread reads ``bytes``. Does nothing for in-memory storage.
    ///
    /// - Throws: ``GGUFError/cannotOpen(path:reason:)`` when reading fails or the file shrank
    ///   since it was opened.
    func readIntoMemory(skipping: [Range<Int>], path: String) throws(GGUFError) {
        guard descriptor >= 0, isMapped, let mapped = bytes.baseAddress else { return }
        let size = bytes.count
        guard let raw = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            throw .cannotOpen(path: path, reason: "cannot reserve \(size) bytes for the model: \(Self.errorText())")
        }
        // Read the gaps between the skipped ranges (sorted), up to the end of the file.
        var start = 0
        for range in (skipping.sorted { $0.lowerBound < $1.lowerBound }) + [size..<size] {
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
        munmap(UnsafeMutableRawPointer(mutating: mapped), size)
        bytes = UnsafeRawBufferPointer(start: raw, count: size)
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
