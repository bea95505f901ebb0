/// Text decoded once into code points with the character-class flags the pre-tokenizers
/// test, plus the UTF-8 offset of every code point so words map back to byte ranges.
struct ScalarText {
    /// Set for every code point inside the text; lets "other" (no class) be told apart
    /// from "outside the current piece", which reads as 0.
    static let valid: UInt8 = 1
    static let letter: UInt8 = 2
    static let number: UInt8 = 4
    static let whitespace: UInt8 = 8

    /// Code points of the text.
    let scalars: [UInt32]
    /// `flags[i]` classifies `scalars[i]`.
    let flags: [UInt8]
    /// `byteOffsets[i]` is the UTF-8 offset of code point `i`; one extra entry holds the length.
    let byteOffsets: [Int]

    var count: Int { scalars.count }

    /// Flags of the 128 ASCII code points, precomputed because they dominate most text.
    private static let asciiFlags: [UInt8] = (0..<128).map { classify(UInt32($0)) }

    /// Classifies one code point the way `\p{L}`, `\p{N}` and `\s` do.
    static func classify(_ value: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(value) else { return valid }
        let properties = scalar.properties
        var result = valid
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result |= letter
        case .decimalNumber, .letterNumber, .otherNumber:
            result |= number
        default:
            break
        }
        if properties.isWhitespace { result |= whitespace }
        return result
    }

    /// Decodes `utf8`, which must be valid UTF-8 (it comes from a Swift `String`).
    init(utf8: [UInt8]) {
        var scalars: [UInt32] = []
        var flags: [UInt8] = []
        var offsets: [Int] = []
        scalars.reserveCapacity(utf8.count)
        flags.reserveCapacity(utf8.count)
        offsets.reserveCapacity(utf8.count + 1)
        let ascii = Self.asciiFlags
        // Non-ASCII classification goes through the Unicode property tables, which is slow;
        // scripts repeat a small set of code points, so remember what was seen.
        var seen: [UInt32: UInt8] = [:]
        utf8.withUnsafeBufferPointer { bytes in
            var i = 0
            let n = bytes.count
            while i < n {
                let b0 = UInt32(bytes[i])
                offsets.append(i)
                if b0 < 0x80 {
                    scalars.append(b0)
                    flags.append(ascii[Int(b0)])
                    i += 1
                    continue
                }
                var value: UInt32
                var length: Int
                if b0 >= 0xF0 {
                    value = b0 & 0x07
                    length = 4
                } else if b0 >= 0xE0 {
                    value = b0 & 0x0F
                    length = 3
                } else {
                    value = b0 & 0x1F
                    length = 2
                }
                precondition(i + length <= n, "ScalarText requires valid UTF-8")
                for k in 1..<length {
                    value = (value << 6) | (UInt32(bytes[i + k]) & 0x3F)
                }
                i += length
                scalars.append(value)
                if let known = seen[value] {
                    flags.append(known)
                } else {
                    let computed = Self.classify(value)
                    seen[value] = computed
                    flags.append(computed)
                }
            }
            offsets.append(n)
        }
        self.scalars = scalars
        self.flags = flags
        self.byteOffsets = offsets
    }
}
