/// Incremental UTF-8 decoding that holds back an unfinished character until its remaining
/// bytes arrive, and replaces a sequence with U+FFFD only once it is proven invalid.
///
/// Replacement follows the Unicode "maximal subpart" practice (one U+FFFD per maximal
/// invalid prefix of a would-be character), which is what `String(decoding:as:)` does, so
/// feeding bytes in any chunking yields the same text as decoding them all at once.
public struct UTF8StreamDecoder: Sendable {
    private var pending: [UInt8] = []

    /// Creates an empty decoder.
    public init() {
        // Room for any token's bytes, so decoding a stream does not grow the buffer.
        pending.reserveCapacity(64)
    }

    /// Whether bytes of an unfinished character are being held back.
    public var hasPendingBytes: Bool { !pending.isEmpty }

    /// Adds bytes and returns all text that is now complete.
    public mutating func append(_ bytes: some Sequence<UInt8>) -> String {
        pending.append(contentsOf: bytes)
        return drain(final: false)
    }

    /// Returns the held-back bytes as text (an unfinished character becomes U+FFFD) and resets.
    public mutating func finish() -> String { drain(final: true) }

    private mutating func drain(final: Bool) -> String {
        var out = String.UnicodeScalarView()
        var i = 0
        let n = pending.count
        while i < n {
            let b0 = pending[i]
            if b0 < 0x80 {
                out.append(Unicode.Scalar(b0))
                i += 1
                continue
            }
            // Expected length and the allowed range of the second byte (Unicode Table 3-7).
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            switch b0 {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default:
                out.append("\u{FFFD}")
                i += 1
                continue
            }
            var k = 1
            var broken = false
            while k < length {
                guard i + k < n else { break }
                let b = pending[i + k]
                let ok = k == 1 ? (b >= low && b <= high) : (b >= 0x80 && b <= 0xBF)
                if !ok {
                    broken = true
                    break
                }
                k += 1
            }
            if k == length {
                var value = UInt32(b0) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
                for j in 1..<length { value = value << 6 | UInt32(pending[i + j] & 0x3F) }
                out.append(Unicode.Scalar(value)!)
                i += length
            } else if broken || final {
                out.append("\u{FFFD}")
                i += k
            } else {
                break  // valid so far but incomplete: wait for more bytes
            }
        }
        if i == n {
            pending.removeAll(keepingCapacity: true)
        } else {
            pending.removeFirst(i)
        }
        return String(out)
    }
}
