import Foundation

/// One `key = value` assignment read from a configuration file.
public struct ConfigEntry: Sendable, Equatable {
    /// The key, as written (keys are case-sensitive, lower-case with dashes).
    public var key: String
    /// The value with surrounding whitespace and one pair of enclosing double quotes removed.
    public var value: String
    /// The 1-based line number the entry is on.
    public var line: Int
}

/// Parses canopyd's configuration format: systemd-style `key = value` lines.
///
/// - Blank lines and lines whose first non-blank character is `#` or `;` are ignored.
/// - Everything after the first `=` is the value; surrounding whitespace is trimmed, and a
///   value wrapped in double quotes loses them (so `"  x"` keeps its leading spaces).
/// - There are no sections, no inline comments and no line continuations, so a `#` inside a
///   value is part of the value.
/// - A key may appear once per file; a repeat is an error rather than a silent override.
public enum ConfigFileParser {
    /// Reads and parses the file at `path`.
    public static func parse(fileAt path: String) throws(DaemonConfigError) -> [ConfigEntry] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path)
                ? "not readable as UTF-8 text (\(error.localizedDescription))" : "no such file"
            throw .cannotRead(path: path, reason: reason)
        }
        return try parse(text: text, path: path)
    }

    /// Parses `text`; `path` only labels errors.
    public static func parse(text: String, path: String) throws(DaemonConfigError) -> [ConfigEntry] {
        var entries: [ConfigEntry] = []
        var firstLine: [String: Int] = [:]
        // "\r\n" is a single Character in Swift, so split on any newline, not on "\n".
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let lineNumber = index + 1
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw .syntax(source: .file(path: path, line: lineNumber), line: line)
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, !key.contains(where: \.isWhitespace) else {
                throw .syntax(source: .file(path: path, line: lineNumber), line: line)
            }
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            if let first = firstLine[key] {
                throw .duplicateKey(source: .file(path: path, line: lineNumber), key: key, firstLine: first)
            }
            firstLine[key] = lineNumber
            entries.append(ConfigEntry(key: key, value: value, line: lineNumber))
        }
        return entries
    }
}
