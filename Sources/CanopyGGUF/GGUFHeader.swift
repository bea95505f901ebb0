import CanopyKernels

/// Everything a GGUF file says about itself before its tensor data: the parsed and validated
/// header, metadata and tensor table.
///
/// `parse` is the single parser behind every way of opening a file. It reads only through a
/// bounds-checked cursor, checks every count against the bytes left before reserving memory
/// for it, and validates the tensor table against the file size, so any byte sequence either
/// parses into a consistent header or throws a `GGUFError` naming the problem.
struct GGUFHeader: Sendable {
    var version: UInt32
    var alignment: Int
    var metadata: [String: GGUFValue]
    var metadataKeys: [String]
    var tensors: [GGUFTensorInfo]
    /// Absolute file offset of the data section: the header's end rounded up to `alignment`.
    var dataOffset: Int
    /// Bytes from `dataOffset` to the end of the file (0 when the file ends before it).
    var dataSize: Int

    /// The alignment GGUF uses when `general.alignment` is absent.
    static let defaultAlignment = 32
    /// The largest `general.alignment` accepted; larger values only arise from corruption.
    static let maximumAlignment = 1 << 30
    /// Deepest array nesting accepted; bounds the parser's recursion on hostile files.
    static let maximumArrayDepth = 16
    /// Most elements reserved up front for any count read from the file. Counts are already
    /// bounded by the bytes left, but an in-memory element is larger than its smallest
    /// encoding, so a corrupt count could still ask for many times the file's size; beyond
    /// this, storage grows only as elements are actually parsed.
    static let reserveLimit = 1 << 16
    static let magic: [UInt8] = Array("GGUF".utf8)
    /// Smallest possible encoding of a metadata entry: key length, value type, 1-byte value.
    static let minimumEntrySize = 8 + 4 + 1
    /// Smallest possible tensor info: name length, n_dims, one dimension, type, offset.
    static let minimumTensorInfoSize = 8 + 4 + 8 + 4 + 8

    static func parse(_ buffer: UnsafeRawBufferPointer) throws(GGUFError) -> GGUFHeader {
        var reader = GGUFByteReader(buffer)
        try reader.require(4, "magic")
        let found = Array(buffer[0..<4])
        guard found == magic else { throw .badMagic(found: found) }
        _ = try reader.read(UInt32.self, "magic")

        let version = try reader.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            // A big-endian file's version reads byte-swapped here (big-endian files exist
            // since version 2).
            if (2...3).contains(version.byteSwapped) {
                throw .bigEndian(version: version.byteSwapped)
            }
            throw .unsupportedVersion(version)
        }

        let tensorCount = try reader.read(UInt64.self, "tensor count")
        let countsOffset = reader.offset
        let entryCount = try reader.read(UInt64.self, "metadata entry count")
        // Both counts are checked against the bytes after them; this only has to stop absurd
        // values, since every item is still read through the bounds-checked cursor.
        let left = reader.remaining
        guard tensorCount <= UInt64(left / minimumTensorInfoSize) else {
            throw .countTooLarge(what: "tensor count", count: tensorCount, offset: countsOffset - 8, remainingBytes: left)
        }
        guard entryCount <= UInt64(left / minimumEntrySize) else {
            throw .countTooLarge(what: "metadata entry count", count: entryCount, offset: countsOffset, remainingBytes: left)
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        metadata.reserveCapacity(min(Int(entryCount), reserveLimit))
        keys.reserveCapacity(min(Int(entryCount), reserveLimit))
        for index in 0..<Int(entryCount) {
            let key = try reader.readStrictString("key of metadata entry \(index)")
            let value = try reader.readValue(key: key)
            guard metadata.updateValue(value, forKey: key) == nil else { throw .duplicateKey(key) }
            keys.append(key)
        }
        let alignment = try alignment(from: metadata["general.alignment"])

        var rawTensors: [RawTensorInfo] = []
        var names = Set<String>()
        rawTensors.reserveCapacity(min(Int(tensorCount), reserveLimit))
        for index in 0..<Int(tensorCount) {
            let tensor = try reader.readTensorInfo(index: index, alignment: alignment)
            guard names.insert(tensor.name).inserted else { throw .duplicateTensor(tensor.name) }
            rawTensors.append(tensor)
        }

        // Padding after the header is part of the format; the alignment cap keeps this from
        // overflowing.
        let dataOffset = (reader.offset + alignment - 1) / alignment * alignment
        let dataSize = max(0, buffer.count - dataOffset)
        let tensors = try checkBounds(rawTensors, dataOffset: dataOffset, dataSize: dataSize)
        return GGUFHeader(
            version: version, alignment: alignment, metadata: metadata, metadataKeys: keys,
            tensors: tensors, dataOffset: dataOffset, dataSize: dataSize)
    }

    private static func alignment(from value: GGUFValue?) throws(GGUFError) -> Int {
        guard let value else { return defaultAlignment }
        guard case let .uint32(raw) = value else { throw .invalidAlignmentType(found: value.typeName) }
        guard raw > 0, raw.nonzeroBitCount == 1, Int(raw) <= maximumAlignment else {
            throw .invalidAlignmentValue(UInt64(raw))
        }
        return Int(raw)
    }

    /// Checks that every tensor lies inside the data section and that no two overlap.
    private static func checkBounds(
        _ raw: [RawTensorInfo], dataOffset: Int, dataSize: Int
    ) throws(GGUFError) -> [GGUFTensorInfo] {
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(raw.count)
        for tensor in raw {
            // Checked in this order so the subtraction is never negative.
            guard tensor.byteCount <= dataSize, tensor.offset <= UInt64(dataSize - tensor.byteCount) else {
                throw .tensorDataOutOfBounds(
                    tensor: tensor.name, offset: tensor.offset, byteCount: tensor.byteCount,
                    dataOffset: dataOffset, dataSize: dataSize)
            }
            tensors.append(GGUFTensorInfo(
                name: tensor.name, dimensions: tensor.dimensions, type: tensor.type,
                offset: Int(tensor.offset), byteCount: tensor.byteCount))
        }
        let byOffset = tensors.sorted { $0.offset < $1.offset }
        for (previous, next) in zip(byOffset, byOffset.dropFirst())
        where next.offset < previous.offset + previous.byteCount {
            throw .overlappingTensors(first: previous.name, second: next.name)
        }
        return tensors
    }
}

/// A tensor info as read, before its offset is checked against the data section.
struct RawTensorInfo {
    var name: String
    var dimensions: [Int]
    var type: GGMLType
    var byteCount: Int
    var offset: UInt64
}

extension GGUFByteReader {
    /// Reads one metadata value (type id + payload) for `key`.
    mutating func readValue(key: String) throws(GGUFError) -> GGUFValue {
        let type = try readValueType(key: key, what: "value type of '\(key)'")
        return try readValue(of: type, key: key, depth: 0)
    }

    private mutating func readValueType(key: String, what: @autoclosure () -> String) throws(GGUFError) -> GGUFValueType {
        let typeOffset = offset
        let id = try read(UInt32.self, what())
        guard let type = GGUFValueType(rawValue: id) else {
            throw .unknownValueType(id: id, key: key, offset: typeOffset)
        }
        return type
    }

    private mutating func readValue(of type: GGUFValueType, key: String, depth: Int) throws(GGUFError) -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, "value of '\(key)'"))
        case .int8: return .int8(try read(Int8.self, "value of '\(key)'"))
        case .uint16: return .uint16(try read(UInt16.self, "value of '\(key)'"))
        case .int16: return .int16(try read(Int16.self, "value of '\(key)'"))
        case .uint32: return .uint32(try read(UInt32.self, "value of '\(key)'"))
        case .int32: return .int32(try read(Int32.self, "value of '\(key)'"))
        case .uint64: return .uint64(try read(UInt64.self, "value of '\(key)'"))
        case .int64: return .int64(try read(Int64.self, "value of '\(key)'"))
        case .float32: return .float32(try readFloat32("value of '\(key)'"))
        case .float64: return .float64(try readFloat64("value of '\(key)'"))
        case .bool:
            let at = offset
            let byte = try read(UInt8.self, "value of '\(key)'")
            guard byte <= 1 else { throw .invalidBool(key: key, byte: byte, offset: at) }
            return .bool(byte == 1)
        case .string:
            return .string(try readLenientString("string value of '\(key)'"))
        case .array:
            return .array(try readArray(key: key, depth: depth + 1))
        }
    }

    private mutating func readArray(key: String, depth: Int) throws(GGUFError) -> [GGUFValue] {
        let start = offset
        let elementType = try readValueType(key: key, what: "element type of array '\(key)'")
        let countOffset = offset
        let count = try read(UInt64.self, "element count of array '\(key)'")
        guard count <= UInt64(remaining / elementType.minimumEncodedSize) else {
            throw .countTooLarge(
                what: "element count of array '\(key)'", count: count, offset: countOffset, remainingBytes: remaining)
        }
        if elementType == .array, depth >= GGUFHeader.maximumArrayDepth {
            throw .arrayNestingTooDeep(key: key, depth: depth + 1, offset: start)
        }
        var elements: [GGUFValue] = []
        elements.reserveCapacity(min(Int(count), GGUFHeader.reserveLimit))
        if elementType == .string {
            // Vocabularies hold tens of thousands of strings: skip the per-element dispatch.
            for _ in 0..<Int(count) {
                elements.append(.string(try readLenientString("string element of array '\(key)'")))
            }
        } else {
            for _ in 0..<Int(count) {
                elements.append(try readValue(of: elementType, key: key, depth: depth))
            }
        }
        return elements
    }

    /// Reads and validates one tensor info; the data offset is checked for alignment here and
    /// against the file size once the data section's start is known.
    mutating func readTensorInfo(index: Int, alignment: Int) throws(GGUFError) -> RawTensorInfo {
        let name = try readStrictString("name of tensor \(index)")
        let dimensionCount = try read(UInt32.self, "dimension count of tensor '\(name)'")
        guard (1...4).contains(dimensionCount) else {
            throw .invalidDimensionCount(tensor: name, count: dimensionCount)
        }
        var rawDimensions: [Int64] = []
        for _ in 0..<Int(dimensionCount) {
            rawDimensions.append(try read(Int64.self, "dimensions of tensor '\(name)'"))
        }
        let typeID = try read(UInt32.self, "type of tensor '\(name)'")
        let rawOffset = try read(UInt64.self, "data offset of tensor '\(name)'")

        for (index, dimension) in rawDimensions.enumerated() where dimension <= 0 {
            throw .invalidDimension(tensor: name, index: index, value: dimension)
        }
        let dimensions = rawDimensions.map { Int($0) }
        var elementCount = 1
        for dimension in dimensions {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw .elementCountOverflow(tensor: name, dimensions: rawDimensions) }
            elementCount = product
        }
        guard let type = GGMLType(rawValue: typeID) else {
            throw .unknownTensorType(id: typeID, tensor: name)
        }
        guard dimensions[0] % type.blockSize == 0 else {
            throw .rowNotMultipleOfBlock(
                tensor: name, rowLength: dimensions[0], type: type.description, blockSize: type.blockSize)
        }
        guard let byteCount = type.byteCount(forElements: elementCount) else {
            throw .elementCountOverflow(tensor: name, dimensions: rawDimensions)
        }
        guard rawOffset % UInt64(alignment) == 0 else {
            throw .misalignedTensorOffset(tensor: name, offset: rawOffset, alignment: alignment)
        }
        return RawTensorInfo(name: name, dimensions: dimensions, type: type, byteCount: byteCount, offset: rawOffset)
    }
}
