import Foundation

/// Reports a model load as progress lines (to stderr by default, which journald records).
///
/// Model weights are memory-mapped, so "loading" is mostly page faults on first use. To give
/// a real percentage, and to make the first request as fast as later ones, `run` first reads
/// the file sequentially through the page cache, reporting every `step` percent, then calls
/// the actual loader and reports its duration. The mapped pages later come from that same
/// cache, so the read costs no extra memory.
public struct ModelLoadProgress: Sendable {
    /// The model file.
    public let path: String
    /// Percentage between progress lines (1...100).
    public let step: Int
    /// What the file is, in the lines: "model", or "draft model" for `--draft-model`.
    public let role: String
    /// Receives each line, without a trailing newline.
    public let sink: @Sendable (String) -> Void

    /// Writes a line to stderr.
    public static let stderrSink: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Progress for loading `path`, the `role` file ("loading \(role) name ..."), a line every
    /// `step` percent, written to `sink`.
    public init(
        path: String, role: String = "model", step: Int = 25,
        sink: @escaping @Sendable (String) -> Void = ModelLoadProgress.stderrSink
    ) {
        precondition((1...100).contains(step), "step must be a percentage in 1...100")
        self.path = path
        self.role = role
        self.step = step
        self.sink = sink
    }

    /// Prefetches the file with progress lines, then runs `load` and reports its time.
    ///
    /// A prefetch failure (e.g. the file is missing) is not reported here: `load` then fails
    /// with its own, more specific error.
    public func run<T, E: Error>(_ load: () throws(E) -> T) throws(E) -> T {
        let name = (path as NSString).lastPathComponent
        let start = ContinuousClock.now
        let size = prefetch { percent, size in
            sink("loading \(role) \(name) (\(Self.megabytes(size))): \(percent)%")
        }
        let value = try load()
        let elapsed = ContinuousClock.now - start
        let sizeText = size.map { " (\(Self.megabytes($0)))" } ?? ""
        sink("loaded \(role) \(name)\(sizeText) in \(Self.seconds(elapsed))")
        return value
    }

    /// Reads the whole file, calling `report(percent, totalBytes)` at 0%, every `step` percent
    /// and 100%. Returns the file size, or `nil` if the file could not be read.
    @discardableResult
    public func prefetch(report: (Int, Int) -> Void) -> Int? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        let total = Int(info.st_size)
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        report(0, total)
        var done = 0
        var lastReported = 0
        let chunk = 8 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        while done < total {
            let count = read(fd, buffer, min(chunk, total - done))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            done += count
            let percent = done * 100 / max(total, 1)
            if percent >= lastReported + step && percent < 100 {
                lastReported = percent - percent % step
                report(lastReported, total)
            }
        }
        report(100, total)
        return total
    }

    /// `97.9 MB` (decimal megabytes, as `ls -h --si` and most download pages show).
    static func megabytes(_ bytes: Int) -> String {
        String(format: "%.1f MB", Double(bytes) / 1e6)
    }

    /// `0.84 s`.
    static func seconds(_ duration: Duration) -> String {
        let (s, atto) = duration.components
        return String(format: "%.2f s", Double(s) + Double(atto) / 1e18)
    }
}
