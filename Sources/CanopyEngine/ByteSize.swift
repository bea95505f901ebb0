import Foundation

/// Sizes as people write them in flags and config files (`--kv-cache-memory 512M`).
public enum ByteSize {
    /// `536870912`, `64K`, `512M`, `2G`, `1T` (binary multiples, optional trailing `B`/`iB`,
    /// case-insensitive). Fractions such as `1.5G` are allowed. Returns `nil` for anything
    /// else, for sizes below one byte and for sizes that do not fit comfortably in an `Int`.
    public static func parse(_ text: String) -> Int? {
        var s = text.trimmingCharacters(in: .whitespaces).uppercased()
        for suffix in ["IB", "B"] where s.hasSuffix(suffix) && s.count > suffix.count {
            s.removeLast(suffix.count)
            break
        }
        let multipliers: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
        var multiplier = 1.0
        if let last = s.last, let m = multipliers[last] {
            multiplier = m
            s.removeLast()
        }
        guard !s.isEmpty, s.allSatisfy({ $0.isNumber || $0 == "." }),
              let value = Double(s), value > 0 else { return nil }
        let bytes = value * multiplier
        guard bytes >= 1, bytes < 0x1p62 else { return nil }
        return Int(bytes)
    }
}
