/// The regex-based word splitter that runs before BPE, selected by `tokenizer.ggml.pre`.
///
/// Each case reproduces llama.cpp's split for that name with a hand-written scanner over
/// Unicode general categories (letters = L*, numbers = N*, whitespace = the Unicode
/// White_Space property, as the regex engines' `\p{L}`, `\p{N}` and `\s`):
/// - `gpt2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// - `smollm`: first `\p{N}` (every number code point becomes its own piece), then the GPT-2
///   pattern inside each piece.
/// - `llama3`: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
///   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`, and whole words that are already
///   tokens skip the merges.
/// - `qwen2`: the Llama 3 pattern with `\p{N}` (single digits) instead of `\p{N}{1,3}`.
///
/// Splitting never drops or reorders text: the pieces concatenate back to the input.
public enum PreTokenizer: String, Sendable, Equatable, CaseIterable {
    /// The GPT-2 pattern alone.
    case gpt2
    /// Every number code point alone, then the GPT-2 pattern.
    case smollm
    /// The Llama 3 pattern (digits in groups of up to three), merges skipped for known words.
    case llama3
    /// The Llama 3 pattern with single digits.
    case qwen2

    /// The `tokenizer.ggml.pre` names accepted, in the order error messages list them.
    public static let supportedNames = ["gpt2", "gpt-2", "smollm", "llama3", "llama-v3", "llama-bpe", "qwen2"]

    /// Selects the pre-tokenizer for a `tokenizer.ggml.pre` value.
    /// - Throws: `TokenizerError.unsupportedPreTokenizer` naming `name` when it is unknown
    ///   (a missing name is reported as "default", llama.cpp's fallback, which Canopy lacks).
    public init(name: String?) throws(TokenizerError) {
        switch name {
        case "gpt2", "gpt-2": self = .gpt2
        case "smollm": self = .smollm
        case "llama3", "llama-v3", "llama-bpe": self = .llama3
        case "qwen2": self = .qwen2
        default: throw .unsupportedPreTokenizer(name ?? "default")
        }
    }

    /// Whether a word that is itself a vocabulary entry is emitted without running merges
    /// (llama.cpp's `ignore_merges`, set for Llama 3 vocabularies).
    public var ignoresMerges: Bool { self == .llama3 }

    /// Splits `text` into pre-tokenizer words.
    public func split(_ text: String) -> [String] {
        let utf8 = Array(text.utf8)
        return splitByteRanges(utf8).map { String(decoding: utf8[$0], as: UTF8.self) }
    }

    /// Splits valid UTF-8 into words, returned as byte ranges that tile `utf8` in order.
    public func splitByteRanges(_ utf8: [UInt8]) -> [Range<Int>] {
        let text = ScalarText(utf8: utf8)
        var ends: [Int] = []
        ends.reserveCapacity(text.count / 3 + 1)
        switch self {
        case .gpt2:
            text.scanGPT2(0, text.count, into: &ends)
        case .smollm:
            var start = 0
            var i = 0
            while i < text.count {
                if text.flags[i] & ScalarText.number != 0 {
                    text.scanGPT2(start, i, into: &ends)
                    ends.append(i + 1)
                    start = i + 1
                }
                i += 1
            }
            text.scanGPT2(start, text.count, into: &ends)
        case .llama3:
            text.scanLlama3(0, text.count, maxDigits: 3, into: &ends)
        case .qwen2:
            text.scanLlama3(0, text.count, maxDigits: 1, into: &ends)
        }
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(ends.count)
        var previous = 0
        for end in ends where end > previous {
            ranges.append(text.byteOffsets[previous]..<text.byteOffsets[end])
            previous = end
        }
        return ranges
    }
}
