/// GPT-2's reversible byte ↔ Unicode mapping used by byte-level BPE vocabularies.
///
/// Every byte value is mapped to a printable code point so that vocabulary entries can be
/// stored as text: printable Latin-1 bytes map to themselves, the remaining 68 bytes map to
/// U+0100 onwards in byte order. The mapping is a bijection between the 256 bytes and 256
/// code points.
public enum ByteUnicodeMapping {
    /// `scalarForByte[b]` is the code point that stands for byte `b`.
    public static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte)
                || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Inverse of `scalarForByte`, indexed by code point (< 324); -1 where no byte maps there.
    private static let byteForScalarTable: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (byte, scalar) in scalarForByte.enumerated() {
            table[Int(scalar.value)] = Int16(byte)
        }
        return table
    }()

    /// The byte a mapped code point stands for, or nil if the code point is not in the mapping.
    public static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let v = Int(scalar.value)
        guard v < 324 else { return nil }
        let b = byteForScalarTable[v]
        return b < 0 ? nil : UInt8(b)
    }

    /// Maps raw bytes to the vocabulary's text form (each byte becomes one code point).
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        for b in bytes { scalars.append(scalarForByte[Int(b)]) }
        return String(scalars)
    }

    /// Maps vocabulary text back to raw bytes. Code points outside the mapping (which a
    /// well-formed byte-level vocabulary never contains) are passed through as their UTF-8.
    public static func decode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if let b = byte(for: scalar) {
                out.append(b)
            } else {
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        return out
    }
}
