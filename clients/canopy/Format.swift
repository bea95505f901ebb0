import Foundation

/// Number formatting for the CLI's human-readable output (fixed, locale-independent).
enum Format {
    /// `value` with exactly `digits` decimals, e.g. `12.35`.
    static func number(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        return String(format: "%.\(digits)f", value)
    }

    /// Seconds shown as milliseconds, e.g. `12.35 ms`.
    static func ms(_ seconds: Double) -> String {
        number(seconds * 1000, digits: 2) + " ms"
    }

    /// A duration such as `3d 4h 5m 6s`, `2m 3s` or `4.2s`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 60 else { return number(max(seconds, 0), digits: 1) + "s" }
        var rest = Int(seconds)
        let days = rest / 86_400
        rest %= 86_400
        let hours = rest / 3600
        rest %= 3600
        let minutes = rest / 60
        let secs = rest % 60
        var parts: [String] = []
        if days > 0 { parts.append("\(days)d") }
        if days > 0 || hours > 0 { parts.append("\(hours)h") }
        parts.append("\(minutes)m")
        parts.append("\(secs)s")
        return parts.joined(separator: " ")
    }

    /// A byte count with a binary unit, e.g. `512.0 MiB`.
    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : number(value, digits: 1) + " " + units[unit]
    }

    /// A count with thousands separators, e.g. `134,515,008`.
    static func grouped(_ value: UInt64) -> String {
        let digits = Array(String(value))
        var out = ""
        for (i, digit) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return out
    }
}
