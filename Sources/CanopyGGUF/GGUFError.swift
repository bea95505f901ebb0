/// Why a GGUF file could not be opened, parsed or written.
///
/// Every case carries what a user needs to locate the problem (byte offsets into the file,
/// key and tensor names, the offending counts), and `description` says in words what is wrong
/// with the file. Offsets are absolute byte offsets from the start of the file unless a case
/// says otherwise.
public enum GGUFError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened, inspected or mapped; `reason` is the system's message.
    case cannotOpen(path: String, reason: String)
    /// The file could not be created or written; `reason` is the system's message.
    case cannotWrite(path: String, reason: String)
    /// The first four bytes are not `GGUF`.
    case badMagic(found: [UInt8])
    /// The file's version is one this reader does not read (only 2 and 3 are supported).
    case unsupportedVersion(UInt32)
    /// The file is a big-endian GGUF file (its version reads byte-swapped); only little-endian
    /// files are supported.
    case bigEndian(version: UInt32)
    /// The file ends before a field that must be there: `needed` bytes at `offset` for
    /// `reading`, but the file has only `fileSize` bytes.
    case truncated(reading: String, offset: Int, needed: Int, fileSize: Int)
    /// A count read from the file (`what`) cannot possibly fit: even at the smallest encoding
    /// its items would need more than the `remainingBytes` left after `offset`.
    case countTooLarge(what: String, count: UInt64, offset: Int, remainingBytes: Int)
    /// A string's declared byte length runs past the end of the file.
    case stringPastEnd(reading: String, length: UInt64, offset: Int, remainingBytes: Int)
    /// A metadata key or tensor name is not valid UTF-8.
    case invalidUTF8(what: String, offset: Int)
    /// A metadata value type id is not one GGUF defines (0–12).
    case unknownValueType(id: UInt32, key: String, offset: Int)
    /// A boolean metadata value is stored as a byte other than 0 or 1.
    case invalidBool(key: String, byte: UInt8, offset: Int)
    /// Arrays are nested deeper than this reader accepts.
    case arrayNestingTooDeep(key: String, depth: Int, offset: Int)
    /// The same metadata key appears twice.
    case duplicateKey(String)
    /// Two tensors have the same name.
    case duplicateTensor(String)
    /// `general.alignment` has a type other than uint32.
    case invalidAlignmentType(found: String)
    /// `general.alignment` is zero, not a power of two, or absurdly large.
    case invalidAlignmentValue(UInt64)
    /// A tensor declares a number of dimensions outside 1...4.
    case invalidDimensionCount(tensor: String, count: UInt32)
    /// A tensor dimension is zero or negative (`index` counts from the innermost dimension).
    case invalidDimension(tensor: String, index: Int, value: Int64)
    /// The product of a tensor's dimensions (or its byte size) does not fit in `Int`.
    case elementCountOverflow(tensor: String, dimensions: [Int64])
    /// A tensor's type id is not a GGML type this reader knows.
    case unknownTensorType(id: UInt32, tensor: String)
    /// A tensor's row length (its innermost dimension) is not a multiple of its type's block size.
    case rowNotMultipleOfBlock(tensor: String, rowLength: Int, type: String, blockSize: Int)
    /// A tensor's data offset (relative to the data section) is not a multiple of the alignment.
    case misalignedTensorOffset(tensor: String, offset: UInt64, alignment: Int)
    /// A tensor's bytes run past the end of the file. `offset` is relative to the data section,
    /// which starts at `dataOffset` and holds `dataSize` bytes.
    case tensorDataOutOfBounds(tensor: String, offset: UInt64, byteCount: Int, dataOffset: Int, dataSize: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingTensors(first: String, second: String)

    /// A sentence saying what is wrong with the file (or the path), with the offsets, names
    /// and counts needed to find it.
    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "cannot open GGUF file '\(path)': \(reason)"
        case let .cannotWrite(path, reason):
            return "cannot write GGUF file '\(path)': \(reason)"
        case let .badMagic(found):
            let hex = found.map { String($0, radix: 16) }.joined(separator: " ")
            return "not a GGUF file: expected magic 'GGUF' (47 47 55 46), found bytes [\(hex)]"
        case let .unsupportedVersion(version):
            return "unsupported GGUF version \(version): only versions 2 and 3 are supported"
                + (version == 1 ? " (version 1 files must be converted with a current llama.cpp)" : "")
        case let .bigEndian(version):
            return "big-endian GGUF file (version \(version) stored byte-swapped): only little-endian files are supported"
        case let .truncated(reading, offset, needed, fileSize):
            return "GGUF file is truncated: reading \(reading) needs \(needed) bytes at offset \(offset), but the file has only \(fileSize) bytes"
        case let .countTooLarge(what, count, offset, remaining):
            return "corrupt GGUF file: \(what) is \(count) (at offset \(offset)), more than the \(remaining) remaining bytes can hold"
        case let .stringPastEnd(reading, length, offset, remaining):
            return "corrupt GGUF file: \(reading) at offset \(offset) declares \(length) bytes, but only \(remaining) bytes remain"
        case let .invalidUTF8(what, offset):
            return "corrupt GGUF file: \(what) at offset \(offset) is not valid UTF-8"
        case let .unknownValueType(id, key, offset):
            return "corrupt GGUF file: metadata '\(key)' has unknown value type id \(id) at offset \(offset)"
        case let .invalidBool(key, byte, offset):
            return "corrupt GGUF file: boolean metadata '\(key)' at offset \(offset) is \(byte), not 0 or 1"
        case let .arrayNestingTooDeep(key, depth, offset):
            return "corrupt GGUF file: metadata '\(key)' nests arrays \(depth) deep at offset \(offset), deeper than supported"
        case let .duplicateKey(key):
            return "corrupt GGUF file: metadata key '\(key)' appears more than once"
        case let .duplicateTensor(name):
            return "corrupt GGUF file: tensor '\(name)' appears more than once"
        case let .invalidAlignmentType(found):
            return "corrupt GGUF file: general.alignment must be a uint32, found \(found)"
        case let .invalidAlignmentValue(value):
            return "corrupt GGUF file: general.alignment is \(value); it must be a power of two between 1 and 2^30"
        case let .invalidDimensionCount(tensor, count):
            return "corrupt GGUF file: tensor '\(tensor)' has \(count) dimensions; 1 to 4 are supported"
        case let .invalidDimension(tensor, index, value):
            return "corrupt GGUF file: tensor '\(tensor)' dimension \(index) is \(value); dimensions must be positive"
        case let .elementCountOverflow(tensor, dimensions):
            return "corrupt GGUF file: tensor '\(tensor)' with dimensions \(dimensions) is too large to address"
        case let .unknownTensorType(id, tensor):
            return "unsupported GGUF file: tensor '\(tensor)' has unknown or unsupported type id \(id)"
        case let .rowNotMultipleOfBlock(tensor, rowLength, type, blockSize):
            return "corrupt GGUF file: tensor '\(tensor)' of type \(type) has rows of \(rowLength) values, not a multiple of the block size \(blockSize)"
        case let .misalignedTensorOffset(tensor, offset, alignment):
            return "corrupt GGUF file: tensor '\(tensor)' data offset \(offset) is not a multiple of the alignment \(alignment)"
        case let .tensorDataOutOfBounds(tensor, offset, byteCount, dataOffset, dataSize):
            return "GGUF file is truncated or corrupt: tensor '\(tensor)' needs \(byteCount) bytes at data offset \(offset), but the data section (starting at file offset \(dataOffset)) holds only \(dataSize) bytes"
        case let .overlappingTensors(first, second):
            return "corrupt GGUF file: the data of tensors '\(first)' and '\(second)' overlap"
        }
    }
}
