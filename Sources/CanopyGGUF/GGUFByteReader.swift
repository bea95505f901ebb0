/// A forward-only, bounds-checked little-endian cursor over a file's bytes.
///
/// Every read checks the bytes it needs against the end of the buffer before touching memory,
/// and throws `GGUFError.truncated` (naming what was being read) when they are not there, so a
/// corrupt or truncated file can never make the parser read out of bounds.
struct GGUFByteReader {
    let buffer: UnsafeRawBufferPointer
    private(set) var offset: Int = 0

    init(_ buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
    }

    var size: Int { buffer.count }
    var remaining: Int { buffer.count - offset }

    /// Throws unless `count` more bytes are available at the cursor.
    @inline(__always)
    func require(_ count: Int, _ what: @autoclosure () -> String) throws(GGUFError) {
        guard count <= remaining else {
            throw .truncated(reading: what(), offset: offset, needed: count, fileSize: size)
        }
    }

    @inline(__always)
    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
        try require(MemoryLayout<T>.size, what())
        let value = buffer.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    mutating func readFloat32(_ what: @autoclosure () -> String) throws(GGUFError) -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readFloat64(_ what: @autoclosure () -> String) throws(GGUFError) -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    /// Reads a GGUF string (uint64 length + bytes) and returns the byte range it occupies,
    /// after checking the length against the bytes left.
    mutating func readStringBytes(_ what: @autoclosure () -> String) throws(GGUFError) -> UnsafeRawBufferPointer {
        let length = try read(UInt64.self, what())
        guard length <= UInt64(remaining) else {
            throw .stringPastEnd(reading: what(), length: length, offset: offset - 8, remainingBytes: remaining)
        }
        let start = offset
        offset += Int(length)
        return UnsafeRawBufferPointer(rebasing: buffer[start..<offset])
    }

    /// Reads a string that must be valid UTF-8 (keys, tensor names).
    mutating func readStrictString(_ what: @autoclosure () -> String) throws(GGUFError) -> String {
        let start = offset
        let bytes = try readStringBytes(what())
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw .invalidUTF8(what: what(), offset: start)
        }
        return string
    }

    /// Reads a string value; invalid UTF-8 sequences become U+FFFD, valid text is kept
    /// byte for byte.
    mutating func readLenientString(_ what: @autoclosure () -> String) throws(GGUFError) -> String {
        GGUFText.lenient(try readStringBytes(what()))
    }
}
