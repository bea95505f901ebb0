import CanopyEngine
import Foundation

/// Parsers for the value syntaxes of canopyd settings. Each returns `nil` for text it does
/// not accept; the caller turns that into an error naming the key and the expected form.
public enum ConfigValueParser {
    /// A size such as `512M` or `2G`; the syntax is `ByteSize.parse`'s, shared with the CLI.
    public static func bytes(_ text: String) -> Int? {
        ByteSize.parse(text)
    }

    /// Non-empty text, surrounding whitespace removed (a token's text, say).
    public static func text(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// A decimal integer in `range`.
    public static func integer(_ text: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else { return nil }
        return value
    }

    /// systemd's booleans: `yes/no`, `true/false`, `on/off`, `1/0` (case-insensitive).
    public static func boolean(_ text: String) -> Bool? {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "yes", "true", "on", "1": return true
        case "no", "false", "off", "0": return false
        default: return nil
        }
    }

    /// A non-negative duration: `30` (seconds), `30s`, `500ms`, `2m`, `1.5s`.
    public static func duration(_ text: String) -> Duration? {
        let s = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 1e-3), ("s", 1), ("min", 60), ("m", 60)]
        var number = Substring(s)
        var scale = 1.0
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            number = s.dropLast(suffix.count)
            scale = factor
            break
        }
        let trimmed = number.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isNumber || $0 == "." }),
              let value = Double(trimmed), value.isFinite else { return nil }
        let seconds = value * scale
        guard seconds >= 0, seconds < 1e9 else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// `none` (any case) as `.some(nil)`, else what `parse` makes of the text: for settings
    /// where `none` switches a limit off. nil when `parse` refuses the text.
    public static func noneOr<T>(_ text: String, _ parse: (String) -> T?) -> T?? {
        if text.trimmingCharacters(in: .whitespaces).lowercased() == "none" { return .some(nil) }
        return parse(text).map { .some($0) }
    }

    /// `auto` (any case) as `.some(nil)`, else what `parse` makes of the text: for settings
    /// whose value is estimated unless given. nil when `parse` refuses the text.
    public static func autoOr<T>(_ text: String, _ parse: (String) -> T?) -> T?? {
        if text.trimmingCharacters(in: .whitespaces).lowercased() == "auto" { return .some(nil) }
        return parse(text).map { .some($0) }
    }

    /// A finite decimal number of at least 0, e.g. `0`, `0.25`.
    public static func nonNegativeNumber(_ text: String) -> Double? {
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, value >= 0 else { return nil }
        return value
    }

    /// A duration above zero, in seconds (for engine settings kept as `Double`).
    public static func positiveSeconds(_ text: String) -> Double? {
        guard let duration = duration(text), duration > .zero else { return nil }
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// A list of user ids or user names, separated by commas and/or whitespace. Names are
    /// resolved with the system user database at parse time. An empty list is allowed.
    public static func userIDs(_ text: String) -> [uid_t]? {
        ids(text) { name in
            // The reentrant variant: tests and the daemon may parse on several threads.
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>?
            var buffer = [CChar](repeating: 0, count: 16 << 10)
            guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
            return entry.pw_uid
        }
    }

    /// A list of group ids or group names, like `userIDs`.
    public static func groupIDs(_ text: String) -> [gid_t]? {
        ids(text) { name in
            var entry = group()
            var result: UnsafeMutablePointer<group>?
            var buffer = [CChar](repeating: 0, count: 16 << 10)
            guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
            return entry.gr_gid
        }
    }

    private static func ids(_ text: String, lookup: (String) -> UInt32?) -> [UInt32]? {
        let items = text.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
        var result: [UInt32] = []
        for item in items {
            if let number = UInt32(item) {
                result.append(number)
            } else if let id = lookup(item) {
                result.append(id)
            } else {
                return nil
            }
        }
        return result
    }
}
