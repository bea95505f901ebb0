/// Structure read from a fuzz input: fields separated by NUL bytes, so a mutated input still
/// splits into plausible parts (a template and messages, a flag byte and a text).
struct FuzzInput {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The input split at NUL bytes (empty fields kept).
    var fields: [ArraySlice<UInt8>] { bytes.split(separator: 0, omittingEmptySubsequences: false) }

    /// `slice` as text, invalid UTF-8 replaced by U+FFFD as a client's string would be.
    static func text(_ slice: ArraySlice<UInt8>) -> String { String(decoding: slice, as: UTF8.self) }
}
