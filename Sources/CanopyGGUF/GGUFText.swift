/// Turning string bytes from a GGUF file into Swift strings.
enum GGUFText {
    /// The bytes as a string: exactly those bytes when they are valid UTF-8; otherwise each
    /// maximal invalid subpart (as Unicode's "U+FFFD substitution of maximal subparts"
    /// defines it, the policy the standard library follows too) becomes U+FFFD.
    ///
    /// Why not `String(decoding:as:)` alone: its repair path costs about 80 ns per byte on
    /// binary data, so a corrupt length that swallows megabytes of tensor data would make
    /// opening a damaged file take seconds per string. Repairing here is a few ns per byte.
    static func lenient(_ bytes: UnsafeRawBufferPointer) -> String {
        if let valid = String(validating: bytes, as: UTF8.self) { return valid }
        // Each invalid byte grows to at most three bytes of U+FFFD.
        return String(unsafeUninitializedCapacity: bytes.count * 3) { repair(bytes, into: $0) }
    }

    /// Writes the bytes to `out` with every maximal invalid subpart replaced by EF BF BD
    /// (U+FFFD); returns the number of bytes written. `out` must hold `3 * bytes.count`.
    static func repair(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        precondition(out.count >= bytes.count * 3)
        let count = bytes.count
        var index = 0
        var written = 0
        while index < count {
            let lead = bytes[index]
            if lead < 0x80 {
                out[written] = lead
                written += 1
                index += 1
                continue
            }
            // The sequence length and the allowed range of the second byte (the first
            // continuation byte is where overlongs, surrogates and values past U+10FFFF show).
            let length: Int
            let low: UInt8
            let high: UInt8
            switch lead {
            case 0xC2...0xDF: (length, low, high) = (2, 0x80, 0xBF)
            case 0xE0: (length, low, high) = (3, 0xA0, 0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: (length, low, high) = (3, 0x80, 0xBF)
            case 0xED: (length, low, high) = (3, 0x80, 0x9F)
            case 0xF0: (length, low, high) = (4, 0x90, 0xBF)
            case 0xF1...0xF3: (length, low, high) = (4, 0x80, 0xBF)
            case 0xF4: (length, low, high) = (4, 0x80, 0x8F)
            default: (length, low, high) = (0, 0, 0)
            }
            var valid = 1  // bytes of the sequence seen to be valid so far
            if length > 0 {
                while valid < length, index + valid < count {
                    let byte = bytes[index + valid]
                    let inRange = valid == 1 ? (byte >= low && byte <= high) : (byte & 0xC0 == 0x80)
                    guard inRange else { break }
                    valid += 1
                }
            }
            if valid == length {
                for offset in 0..<length { out[written + offset] = bytes[index + offset] }
                written += length
            } else {
                out[written] = 0xEF
                out[written + 1] = 0xBF
                out[written + 2] = 0xBD
                written += 3
            }
            index += valid
        }
        return written
    }
}
