/// A word's bytes as a dictionary key, hashed once with FNV-1a: hashing a byte slice through
/// `Hasher` feeds it one byte at a time, which made the word cache the hottest spot of encoding.
struct WordKey: Hashable {
    let bytes: ArraySlice<UInt8>
    private let fingerprint: UInt64

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        bytes.withUnsafeBufferPointer { buffer in
            for b in buffer { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        }
        fingerprint = h
    }

    func hash(into hasher: inout Hasher) { hasher.combine(fingerprint) }

    static func == (a: WordKey, b: WordKey) -> Bool {
        a.fingerprint == b.fingerprint && a.bytes.elementsEqual(b.bytes)
    }
}
