/// A byte-level BPE tokenizer built from a `TokenizerVocabulary`, reproducing llama.cpp's
/// `llama_tokenize` / `llama_token_to_piece` for `gpt2`-model vocabularies.
///
/// Immutable after construction, so one instance can be shared by any number of threads.
public final class Tokenizer: Sendable {
    /// The vocabulary this tokenizer was built from.
    public let vocabulary: TokenizerVocabulary
    /// The pre-tokenizer selected by the vocabulary's `tokenizer.ggml.pre`.
    public let preTokenizer: PreTokenizer
    /// Tokens that end generation: eos, eot, and tokens whose text is one of llama.cpp's
    /// end-of-turn markers (`<|eot_id|>`, `<|im_end|>`, `<|end|>`, `<end_of_turn>`,
    /// `<|endoftext|>`, `<EOT>`, ...).
    public let endOfGenerationTokens: Set<TokenID>
    /// The end-of-turn token: the file's eot id, else the first end-of-turn marker found.
    public let eotTokenID: TokenID?

    private let bpe: BPEModel
    private let specials: SpecialTokenMatcher
    /// Effective types: end-of-generation markers are promoted to control, as llama.cpp does.
    private let types: [TokenType]
    /// Bytes of every token as rendered with special tokens shown.
    private let pieces: [[UInt8]]

    /// Texts llama.cpp treats as end-of-generation markers.
    static let endOfGenerationTexts: [String] = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
        "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    ]

    /// Builds the tokenizer.
    /// - Throws: `TokenizerError` when the model is not `gpt2`, the pre-tokenizer is unknown,
    ///   or the vocabulary is inconsistent.
    public init(vocabulary: TokenizerVocabulary) throws(TokenizerError) {
        try vocabulary.validate()
        guard vocabulary.model == "gpt2" else { throw .unsupportedTokenizerModel(vocabulary.model) }
        let pre = try PreTokenizer(name: vocabulary.preTokenizer)
        let bpe = try BPEModel(
            tokens: vocabulary.tokens, merges: vocabulary.merges, ignoresMerges: pre.ignoresMerges)
        var types = (0..<vocabulary.tokens.count).map { vocabulary.tokenType(TokenID($0)) }
        var endOfGeneration = Set<TokenID>()
        var eot = vocabulary.eotTokenID
        for text in Self.endOfGenerationTexts {
            guard let id = bpe.idForText[text] else { continue }
            endOfGeneration.insert(id)
            if types[Int(id)] != .control { types[Int(id)] = .control }
            if eot == nil && text != "<|endoftext|>" && text != "<|end_of_text|>" { eot = id }
        }
        if let id = vocabulary.eosTokenID { endOfGeneration.insert(id) }
        if let id = eot { endOfGeneration.insert(id) }

        var candidates: [SpecialTokenMatcher.Candidate] = []
        var pieces: [[UInt8]] = []
        pieces.reserveCapacity(types.count)
        for (i, text) in vocabulary.tokens.enumerated() {
            switch types[i] {
            case .control, .unknown:
                candidates.append(.init(id: TokenID(i), bytes: Array(text.utf8), needsParseSpecial: true))
                pieces.append(Array(text.utf8))
            case .userDefined:
                candidates.append(.init(id: TokenID(i), bytes: Array(text.utf8), needsParseSpecial: false))
                pieces.append(Array(text.utf8))
            case .normal:
                pieces.append(ByteUnicodeMapping.decode(text))
            case .undefined, .unused, .byte:
                // llama.cpp renders these as nothing for BPE vocabularies.
                pieces.append([])
            }
        }
        self.vocabulary = vocabulary
        self.preTokenizer = pre
        self.bpe = bpe
        self.types = types
        self.pieces = pieces
        self.specials = SpecialTokenMatcher(candidates: candidates)
        self.endOfGenerationTokens = endOfGeneration
        self.eotTokenID = eot
    }

    /// Number of tokens in the vocabulary (valid ids are `0..<vocabularySize`).
    public var vocabularySize: Int { vocabulary.tokens.count }
    /// Beginning-of-sequence token, if the vocabulary defines one.
    public var bosTokenID: TokenID? { vocabulary.bosTokenID }
    /// End-of-sequence token, if the vocabulary defines one.
    public var eosTokenID: TokenID? { vocabulary.eosTokenID }

    /// The stored text of token `id` (byte-mapped form for normal tokens).
    public func tokenText(_ id: TokenID) -> String {
        precondition(id >= 0 && Int(id) < vocabularySize, "token id \(id) outside the vocabulary")
        return vocabulary.tokens[Int(id)]
    }

    /// The id whose stored text is exactly `text`, if any.
    public func tokenID(forText text: String) -> TokenID? { bpe.idForText[text] }

    /// The effective type of token `id` (end-of-generation markers count as control).
    public func tokenType(_ id: TokenID) -> TokenType {
        precondition(id >= 0 && Int(id) < vocabularySize, "token id \(id) outside the vocabulary")
        return types[Int(id)]
    }

    /// Whether generating `id` should stop generation.
    public func isEndOfGeneration(_ id: TokenID) -> Bool { endOfGenerationTokens.contains(id) }

    /// Tokenizes `text` as `llama_tokenize(text, add_special, parse_special)` does.
    /// - Parameters:
    ///   - addSpecial: add BOS (and EOS) where the vocabulary asks for them.
    ///   - parseSpecial: recognise control tokens such as `<|im_start|>` written in the text.
    ///     User-defined tokens are always recognised, as in llama.cpp.
    public func encode(_ text: String, addSpecial: Bool = false, parseSpecial: Bool = false) -> [TokenID] {
        encode(Array(text.utf8), addSpecial: addSpecial, parseSpecial: parseSpecial, literalRanges: [])
    }

    /// Tokenizes a rendered conversation: control tokens are recognised in the template's text
    /// and never inside ``RenderedChat/contentRanges``, so a message cannot open or close a
    /// turn by writing `<|im_end|>`. No BOS/EOS is added (templates write their own).
    public func encode(_ chat: RenderedChat) -> [TokenID] {
        encode(Array(chat.text.utf8), addSpecial: false, parseSpecial: true, literalRanges: chat.contentRanges)
    }

    private func encode(_ utf8: [UInt8], addSpecial: Bool, parseSpecial: Bool, literalRanges: [Range<Int>]) -> [TokenID] {
        var output: [TokenID] = []
        output.reserveCapacity(utf8.count / 3 + 2)
        if addSpecial && vocabulary.addBOS, let bos = vocabulary.bosTokenID { output.append(bos) }
        var workspace = BPEWorkspace()
        // Words repeat heavily in real text; remember each distinct word's tokens for this call
        // as a range into `pool`.
        var cache: [WordKey: Range<Int>] = [:]
        var pool: [TokenID] = []
        for fragment in specials.partition(utf8, parseSpecial: parseSpecial, literalRanges: literalRanges) {
            switch fragment {
            case .token(let id):
                output.append(id)
            case .text(let range):
                let piece = range == 0..<utf8.count ? utf8 : Array(utf8[range])
                for wordRange in preTokenizer.splitByteRanges(piece) {
                    let word = piece[wordRange]
                    if word.count == 1 {
                        bpe.encodeWord(word, workspace: &workspace, into: &output)
                    } else if let cached = cache[WordKey(word)] {
                        output.append(contentsOf: pool[cached])
                    } else {
                        let start = pool.count
                        bpe.encodeWord(word, workspace: &workspace, into: &pool)
                        cache[WordKey(word)] = start..<pool.count
                        output.append(contentsOf: pool[start...])
                    }
                }
            }
        }
        if addSpecial && vocabulary.addEOS, let eos = vocabulary.eosTokenID { output.append(eos) }
        return output
    }

    /// The bytes token `id` renders to, as `llama_token_to_piece(special: renderSpecial)`:
    /// normal tokens give their raw bytes; control and unknown tokens give their text only
    /// when `renderSpecial`, otherwise nothing; user-defined tokens always give their text.
    public func tokenBytes(_ id: TokenID, renderSpecial: Bool = false) -> [UInt8] {
        precondition(id >= 0 && Int(id) < vocabularySize, "token id \(id) outside the vocabulary")
        if !renderSpecial {
            let type = types[Int(id)]
            if type == .control || type == .unknown { return [] }
        }
        return pieces[Int(id)]
    }

    /// Concatenates the tokens' bytes and decodes them as UTF-8; invalid sequences (for
    /// example a prefix cut inside a character) become U+FFFD.
    public func decode(_ ids: [TokenID], renderSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids { bytes.append(contentsOf: tokenBytes(id, renderSpecial: renderSpecial)) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
