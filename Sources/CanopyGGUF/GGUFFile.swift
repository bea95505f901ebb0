/// An open, validated GGUF (v2 or v3, little-endian) file: its metadata, its tensor table and
/// its tensor data, memory-mapped.
///
/// Opening a file parses and checks the whole header (see `GGUFError` for what is rejected);
/// once `init` returns, every tensor's data lies inside the mapping and no two tensors
/// overlap, so `data(of:)` never reads out of bounds.
///
/// `@unchecked Sendable`: every stored property is immutable after `init`, and the mapped
/// bytes are read-only, so instances may be shared freely between threads.
public final class GGUFFile: @unchecked Sendable {
    /// The path the file was opened from (`<memory>` for files opened from bytes).
    public let path: String
    /// The GGUF format version (2 or 3).
    public let version: UInt32
    /// The alignment of the data section and of every tensor offset (`general.alignment`,
    /// default 32).
    public let alignment: Int
    /// Every metadata entry by key.
    public let metadata: [String: GGUFValue]
    /// The metadata keys in the order the file stores them.
    public let metadataKeys: [String]
    /// The tensor table in the order the file stores it.
    public let tensors: [GGUFTensorInfo]
    /// Absolute file offset where the data section (and tensor offset 0) begins.
    public let dataOffset: Int
    /// Total size of the file in bytes.
    public let fileSize: Int

    private let storage: GGUFStorage
    private let tensorIndex: [String: Int]

    /// Opens, maps (read-only, private) and validates the GGUF file at `path`.
    public convenience init(path: String) throws(GGUFError) {
        try self.init(storage: try GGUFStorage(mapping: path), path: path)
    }

    /// Validates a GGUF file held in memory; the bytes are copied into page-aligned storage
    /// owned by the new object.
    public convenience init(bytes: [UInt8]) throws(GGUFError) {
        try self.init(storage: GGUFStorage(copying: bytes), path: "<memory>")
    }

    private init(storage: GGUFStorage, path: String) throws(GGUFError) {
        let header = try GGUFHeader.parse(storage.bytes)
        self.storage = storage
        self.path = path
        self.version = header.version
        self.alignment = header.alignment
        self.metadata = header.metadata
        self.metadataKeys = header.metadataKeys
        self.tensors = header.tensors
        self.dataOffset = header.dataOffset
        self.fileSize = storage.bytes.count
        var index: [String: Int] = [:]
        index.reserveCapacity(header.tensors.count)
        for (position, tensor) in header.tensors.enumerated() { index[tensor.name] = position }
        self.tensorIndex = index
    }

    /// Reads the file into the process's own memory and drops the mapping (see
    /// `GGUFStorage.readIntoMemory`): from then on truncating or rewriting the file cannot
    /// crash the process or change the weights it computes with. `skipping` lists byte
    /// ranges read from the file on demand instead (routed experts behind an expert cache);
    /// `streaming` lists units (ranges read and released together) left unread too but
    /// filled in place on demand with ``readStreamed(_:)`` (weights streamed under a memory
    /// budget), at most `streamingWindow` of them at once when that is known (then their
    /// memory is reused from one fill to the next).
    ///
    /// Call once, right after opening and before handing out ``data(of:)`` buffers, which
    /// point into the memory being replaced. Does nothing for a file opened from bytes.
    public func readIntoMemory(
        skipping: [Range<Int>] = [], streaming: [[Range<Int>]] = [], streamingWindow: Int = 0
    ) throws(GGUFError) {
        try storage.readIntoMemory(skipping: skipping, streaming: streaming, streamingWindow: streamingWindow, path: path)
    }

    /// Fills the streamed `unit` (absolute file byte ranges, one of the `streaming` units of
    /// ``readIntoMemory(skipping:streaming:streamingWindow:)``) from the file, where
    /// ``data(of:)`` points; nil on success, else where and why the read stopped. The caller
    /// makes sure nobody reads those bytes meanwhile, and fills each unit at most once before
    /// releasing it.
    public func readStreamed(_ unit: [Range<Int>]) -> PartialRead? {
        storage.readStreamed(unit)
    }

    /// Reads the file's bytes of `range` (absolute offsets) into `destination`, a buffer of at
    /// least `range.count` bytes: how rows of a table left unread are looked up. Nil on
    /// success, else where and why the read stopped. A file opened from bytes reads nothing.
    public func readCopy(_ range: Range<Int>, into destination: UnsafeMutableRawPointer) -> PartialRead? {
        storage.readCopy(range, into: destination)
    }

    /// Returns the memory of a streamed `unit` to the system (its bytes read as zero until
    /// ``readStreamed(_:)`` fills them again).
    public func releaseStreamed(_ unit: [Range<Int>]) {
        storage.releaseStreamed(unit)
    }

    /// How the file on disk differs from the one opened (nil when it does not): truncated,
    /// rewritten in place, removed or replaced. Costs an `fstat` and a `stat`.
    public func changeOnDisk() -> String? {
        storage.changeSinceOpen(path: path)
    }

    /// The tensor called `name`, or `nil` when the file has none.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor's bytes inside the mapping; valid as long as this GGUFFile is alive.
    ///
    /// The buffer starts `alignment`-aligned relative to the file's start (and the mapping is
    /// page-aligned). Passing a tensor that does not belong to this file is a programmer error.
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        precondition(
            tensorIndex[tensor.name].map { tensors[$0] == tensor } ?? false,
            "tensor '\(tensor.name)' does not belong to GGUF file '\(path)'")
        let start = dataOffset + tensor.offset
        return UnsafeRawBufferPointer(rebasing: storage.bytes[start..<(start + tensor.byteCount)])
    }

    /// The string stored under `key`, or `nil` when missing or not a string.
    public func string(_ key: String) -> String? { metadata[key]?.stringValue }

    /// The integer stored under `key` (any integer type whose value fits in `Int`), or `nil`.
    public func int(_ key: String) -> Int? { metadata[key]?.intValue }

    /// The number stored under `key` as a `Double` (float32, float64 or any integer), or `nil`.
    public func float(_ key: String) -> Double? { metadata[key]?.doubleValue }

    /// The bool stored under `key`, or `nil` when missing or not a bool.
    public func bool(_ key: String) -> Bool? { metadata[key]?.boolValue }

    /// The array of strings stored under `key`, or `nil` when missing, not an array, or any
    /// element is not a string. Strings are the file's bytes exactly when they are valid UTF-8.
    public func stringArray(_ key: String) -> [String]? {
        guard let elements = metadata[key]?.arrayValue else { return nil }
        var result: [String] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard case let .string(string) = element else { return nil }
            result.append(string)
        }
        return result
    }

    /// The array of integers stored under `key`, or `nil` when missing, not an array, or any
    /// element is not an integer that fits in `Int`.
    public func intArray(_ key: String) -> [Int]? {
        guard let elements = metadata[key]?.arrayValue else { return nil }
        var result: [Int] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard let value = element.intValue else { return nil }
            result.append(value)
        }
        return result
    }

    /// The array of numbers stored under `key` as `Double`s, or `nil` when missing, not an
    /// array, or any element is not a number.
    public func floatArray(_ key: String) -> [Double]? {
        guard let elements = metadata[key]?.arrayValue else { return nil }
        var result: [Double] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard let value = element.doubleValue else { return nil }
            result.append(value)
        }
        return result
    }
}
