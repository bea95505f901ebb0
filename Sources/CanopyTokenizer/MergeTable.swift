/// An open-addressing hash map from a symbol pair to its merge, used instead of `Dictionary`
/// because lookups dominate BPE time and a multiplicative hash of the packed pair is much
/// cheaper than the standard library's seeded SipHash.
struct MergeTable: Sendable {
    /// Never a real key: symbol ids are non-negative `Int32`s, so packed keys stay below 2^63.
    private static let empty = UInt64.max

    private var keys: [UInt64]
    private var values: [UInt64]
    private let shift: UInt64
    private let mask: Int
    private(set) var count = 0

    /// Creates a table with room for `capacity` entries at a load factor of at most 1/2.
    init(capacity: Int) {
        var bits = 4
        while (1 << bits) < capacity * 2 { bits += 1 }
        keys = [UInt64](repeating: Self.empty, count: 1 << bits)
        values = [UInt64](repeating: 0, count: 1 << bits)
        shift = UInt64(64 - bits)
        mask = (1 << bits) - 1
    }

    @inline(__always)
    private func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// Inserts `value` for `key` unless the key is present (the first insertion wins).
    mutating func insertIfAbsent(_ key: UInt64, _ value: UInt64) {
        precondition(key != Self.empty && count * 2 < keys.count, "MergeTable misuse")
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key { return }
            if k == Self.empty {
                keys[i] = key
                values[i] = value
                count += 1
                return
            }
            i = (i + 1) & mask
        }
    }

    /// The value stored for `key`, or nil.
    @inline(__always)
    func lookup(_ key: UInt64) -> UInt64? {
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key { return values[i] }
            if k == Self.empty { return nil }
            i = (i + 1) & mask
        }
    }
}
