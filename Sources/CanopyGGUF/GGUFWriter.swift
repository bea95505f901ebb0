import CanopyKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds a GGUF file (little-endian, version 3 by default) in memory or on disk.
///
/// The output is valid for `GGUFFile`: metadata entries and tensors keep the order they were
/// added in, tensor data is laid out in that order with every tensor offset and the data
/// section aligned to `alignment`, and padding is zero. When `alignment` is not GGUF's default
/// of 32 and no `general.alignment` entry was added, one (uint32) is written first.
/// Adding a `general.alignment` entry yourself writes it as given, which lets tests build files
/// whose declared alignment disagrees with their layout.
///
/// Misuse (duplicate keys or tensor names, mixed-type arrays, data of the wrong size) is a
/// programmer error and traps.
public struct GGUFWriter: Sendable {
    /// A tensor waiting to be written.
    public struct Tensor: Sendable, Equatable {
        /// The tensor's name; unique within the file.
        public let name: String
        /// The element type `data` is laid out in.
        public let type: GGMLType
        /// Innermost first, as GGUF stores them.
        public let dimensions: [Int]
        /// The raw bytes, exactly `type.byteCount(forElements:)` of the element count.
        public let data: [UInt8]
    }

    /// The version number written into the header (the layout of versions 2 and 3 is the same).
    public var version: UInt32
    /// Alignment of the data section and of every tensor's data; a power of two.
    public var alignment: Int
    /// Metadata entries in the order they will be written.
    public private(set) var entries: [(key: String, value: GGUFValue)] = []
    /// Tensors in the order they will be written.
    public private(set) var tensors: [Tensor] = []

    /// An empty file of the given version and alignment.
    public init(version: UInt32 = 3, alignment: Int = 32) {
        precondition(alignment > 0 && alignment.nonzeroBitCount == 1, "alignment must be a power of two")
        self.version = version
        self.alignment = alignment
    }

    /// Adds a metadata entry. Arrays must be homogeneous (nested arrays may differ from one
    /// another); a key may be added once.
    public mutating func add(_ key: String, _ value: GGUFValue) {
        precondition(!entries.contains { $0.key == key }, "metadata key '\(key)' added twice")
        Self.checkHomogeneous(value, key: key)
        entries.append((key, value))
    }

    /// Adds a tensor with raw data in `type`'s layout; `data` must hold exactly the bytes the
    /// dimensions need, and the row length must be a multiple of the type's block size.
    public mutating func addTensor(name: String, type: GGMLType, dimensions: [Int], data: [UInt8]) {
        precondition(!tensors.contains { $0.name == name }, "tensor '\(name)' added twice")
        precondition((1...4).contains(dimensions.count), "tensors have 1 to 4 dimensions")
        precondition(dimensions.allSatisfy { $0 > 0 }, "tensor dimensions must be positive")
        precondition(dimensions[0] % type.blockSize == 0, "row length must be a multiple of the block size")
        let count = dimensions.reduce(1, *)
        precondition(type.byteCount(forElements: count) == data.count,
                     "tensor '\(name)': \(data.count) bytes given, \(type) \(dimensions) needs \(type.byteCount(forElements: count) ?? -1)")
        tensors.append(Tensor(name: name, type: type, dimensions: dimensions, data: data))
    }

    /// Adds an F32 tensor from values in row-major order (innermost dimension fastest).
    public mutating func addTensor(name: String, dimensions: [Int], floats: [Float]) {
        var data: [UInt8] = []
        data.reserveCapacity(floats.count * 4)
        for value in floats { Self.append(value.bitPattern, to: &data) }
        addTensor(name: name, type: .f32, dimensions: dimensions, data: data)
    }

    /// The complete file.
    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        out.append(contentsOf: Array("GGUF".utf8))
        Self.append(version, to: &out)
        Self.append(UInt64(tensors.count), to: &out)
        var allEntries = entries
        if alignment != 32, !entries.contains(where: { $0.key == "general.alignment" }) {
            allEntries.insert(("general.alignment", .uint32(UInt32(alignment))), at: 0)
        }
        Self.append(UInt64(allEntries.count), to: &out)
        for (key, value) in allEntries {
            Self.appendString(key, to: &out)
            Self.append(value.valueType.rawValue, to: &out)
            Self.appendPayload(value, to: &out)
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            offsets.append(offset)
            offset = Self.roundUp(offset + tensor.data.count, alignment)
        }
        for (tensor, tensorOffset) in zip(tensors, offsets) {
            Self.appendString(tensor.name, to: &out)
            Self.append(UInt32(tensor.dimensions.count), to: &out)
            for dimension in tensor.dimensions { Self.append(Int64(dimension), to: &out) }
            Self.append(tensor.type.rawValue, to: &out)
            Self.append(UInt64(tensorOffset), to: &out)
        }
        out.append(contentsOf: repeatElement(0, count: Self.roundUp(out.count, alignment) - out.count))
        for tensor in tensors {
            out.append(contentsOf: tensor.data)
            out.append(contentsOf: repeatElement(0, count: Self.roundUp(out.count, alignment) - out.count))
        }
        return out
    }

    /// Writes the file to `path`, replacing any file there.
    public func write(to path: String) throws(GGUFError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let contents = bytes()
        var written = 0
        while written < contents.count {
            let result = contents.withUnsafeBytes { buffer in
                systemWrite(descriptor, buffer.baseAddress! + written, buffer.count - written)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw .cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            written += result
        }
    }

    private static func roundUp(_ value: Int, _ alignment: Int) -> Int {
        (value + alignment - 1) / alignment * alignment
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func appendString(_ string: String, to out: inout [UInt8]) {
        append(UInt64(string.utf8.count), to: &out)
        out.append(contentsOf: string.utf8)
    }

    private static func appendPayload(_ value: GGUFValue, to out: inout [UInt8]) {
        switch value {
        case let .uint8(v): append(v, to: &out)
        case let .int8(v): append(v, to: &out)
        case let .uint16(v): append(v, to: &out)
        case let .int16(v): append(v, to: &out)
        case let .uint32(v): append(v, to: &out)
        case let .int32(v): append(v, to: &out)
        case let .uint64(v): append(v, to: &out)
        case let .int64(v): append(v, to: &out)
        case let .float32(v): append(v.bitPattern, to: &out)
        case let .float64(v): append(v.bitPattern, to: &out)
        case let .bool(v): out.append(v ? 1 : 0)
        case let .string(v): appendString(v, to: &out)
        case let .array(elements):
            // An empty array's element type is not observable; uint8 is as good as any.
            append((elements.first?.valueType ?? .uint8).rawValue, to: &out)
            append(UInt64(elements.count), to: &out)
            for element in elements { appendPayload(element, to: &out) }
        }
    }

    private static func checkHomogeneous(_ value: GGUFValue, key: String) {
        guard case let .array(elements) = value else { return }
        if let first = elements.first {
            precondition(elements.allSatisfy { $0.valueType == first.valueType },
                         "metadata '\(key)': array elements must all have one type")
        }
        for element in elements { checkHomogeneous(element, key: key) }
    }
}

/// The C library's `write`, named apart from `GGUFWriter.write(to:)` which shadows it there.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}
