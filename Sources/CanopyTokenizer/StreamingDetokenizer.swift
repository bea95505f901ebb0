/// Turns generated token ids into text one id at a time, returning only complete UTF-8
/// text: a character split across tokens is returned once its last byte arrives.
///
/// The concatenation of everything returned by `append` and `finish` equals
/// `tokenizer.decode(allIds, renderSpecial:)`.
public struct StreamingDetokenizer: Sendable {
    /// The tokenizer whose vocabulary the ids belong to.
    public let tokenizer: Tokenizer
    /// Whether control tokens render as their text (`llama_token_to_piece` special = true).
    public let renderSpecial: Bool
    private var decoder = UTF8StreamDecoder()

    /// Creates a detokenizer with nothing pending.
    public init(tokenizer: Tokenizer, renderSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.renderSpecial = renderSpecial
    }

    /// Whether bytes of an unfinished character are held back.
    public var hasPendingBytes: Bool { decoder.hasPendingBytes }

    /// Adds one token and returns the text it completes (possibly empty).
    public mutating func append(_ id: TokenID) -> String {
        decoder.append(tokenizer.tokenBytes(id, renderSpecial: renderSpecial))
    }

    /// Flushes held-back bytes; an unfinished character becomes U+FFFD.
    public mutating func finish() -> String { decoder.finish() }
}
