/// A tokenizer built from a `TokenizerVocabulary`, reproducing llama.cpp's `llama_tokenize` /
/// `llama_token_to_piece`: byte-level BPE after a pre-tokenizer for `gpt2`-model vocabularies
/// (SmolLM2, Qwen, Llama 3), SentencePiece with byte fallback for `llama`-model ones (Gemma,
/// Llama 2, Mistral, Phi-3).
///
/// Immutable after construction, so one instance can be shared by any number of threads.
public final class Tokenizer: Sendable {
    /// The vocabulary this tokenizer was built from.
    public let vocabulary: TokenizerVocabulary
    /// The pre-tokenizer selected by the vocabulary's `tokenizer.ggml.pre`; nil for
    /// SentencePiece vocabularies, which have none.
    public let preTokenizer: PreTokenizer?
    /// Tokens that end generation: eos, eot, and tokens whose text is one of llama.cpp's
    /// end-of-turn markers (`<|eot_id|>`, `<|im_end|>`, `<|end|>`, `<end_of_turn>`,
    /// `<|endoftext|>`, `<EOT>`, ...).
    public let endOfGenerationTokens: Set<TokenID>
    /// The end-of-turn token: the file's eot id, else the first end-of-turn marker found.
    public let eotTokenID: TokenID?

    /// How a text fragment (text between special tokens) becomes tokens.
    private enum Segmenter {
        case bytePairs(BPEModel, PreTokenizer)
        case sentencePiece(SentencePieceModel)

        /// The id whose stored text is exactly `text` (the last id on duplicates).
        func id(forText text: String) -> TokenID? {
            switch self {
            case .bytePairs(let bpe, _): return bpe.idForText[text]
            case .sentencePiece(let spm): return spm.id(forText: text)
            }
        }
    }

    private let segmenter: Segmenter
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
    /// - Throws: `TokenizerError` when the model is neither `gpt2` nor `llama`, the
    ///   pre-tokenizer is unknown, or the vocabulary is inconsistent.
    public init(vocabulary: TokenizerVocabulary) throws(TokenizerError) {
        try vocabulary.validate()
        let segmenter: Segmenter
        switch vocabulary.model {
        case "gpt2":
            let pre = try PreTokenizer(name: vocabulary.preTokenizer)
            let bpe = try BPEModel(
                tokens: vocabulary.tokens, merges: vocabulary.merges, ignoresMerges: pre.ignoresMerges)
            segmenter = .bytePairs(bpe, pre)
            self.preTokenizer = pre
        case "llama":
            let spm = try SentencePieceModel(
                tokens: vocabulary.tokens, scores: vocabulary.scores, unknownToken: vocabulary.unknownTokenID)
            segmenter = .sentencePiece(spm)
            self.preTokenizer = nil
        default:
            throw .unsupportedTokenizerModel(vocabulary.model)
        }
        let sentencePiece = if case .sentencePiece = segmenter { true } else { false }
        var types = (0..<vocabulary.tokens.count).map { vocabulary.tokenType(TokenID($0)) }
        var endOfGeneration = Set<TokenID>()
        var eot = vocabulary.eotTokenID
        for text in Self.endOfGenerationTexts {
            guard let id = segmenter.id(forText: text) else { continue }
            endOfGeneration.insert(id)
            if types[Int(id)] != .control { types[Int(id)] = .control }
            if eot == nil && text != "<|endoftext|>" && text != "<|end_of_text|>" { eot = id }
        }
        if let id = vocabulary.eosTokenID { endOfGeneration.insert(id) }
        if let id = eot { endOfGeneration.insert(id) }

        // llama.cpp strips the whitespace after every special token but <unk>, <s> and
        // <|endoftext|> in models named Phi-3 (`llama_vocab::impl::load`, by `general.name`).
        let name = vocabulary.modelName?.lowercased() ?? ""
        let stripsAfterSpecials = name.contains("phi-3") || name.contains("phi3")
        let keepsSpaceAfter: Set<String> = ["<unk>", "<s>", "<|endoftext|>"]
        var candidates: [SpecialTokenMatcher.Candidate] = []
        var pieces: [[UInt8]] = []
        pieces.reserveCapacity(types.count)
        for (i, text) in vocabulary.tokens.enumerated() {
            switch types[i] {
            case .control, .unknown, .userDefined:
                candidates.append(.init(
                    id: TokenID(i), bytes: Array(text.utf8), needsParseSpecial: types[i] != .userDefined,
                    stripsSpaceAfter: stripsAfterSpecials && !keepsSpaceAfter.contains(text)))
                pieces.append(Array(text.utf8))
            case .normal where sentencePiece:
                pieces.append(Self.unescapingSpaces(Array(text.utf8)))
            case .normal:
                pieces.append(ByteUnicodeMapping.decode(text))
            case .byte where sentencePiece:
                pieces.append(SentencePieceModel.byteValue(ofByteToken: text).map { [$0] } ?? [])
            case .undefined, .unused, .byte:
                // llama.cpp renders these as nothing (and byte tokens in BPE vocabularies).
                pieces.append([])
            }
        }
        self.vocabulary = vocabulary
        self.segmenter = segmenter
        self.types = types
        self.pieces = pieces
        self.specials = SpecialTokenMatcher(candidates: candidates)
        self.endOfGenerationTokens = endOfGeneration
        self.eotTokenID = eot
    }

    /// The tokenizer family, for logs: "SentencePiece" or "byte-level BPE (pre-tokenizer
    /// NAME)", with the vocabulary size.
    public var summary: String {
        switch segmenter {
        case .bytePairs: return "byte-level BPE (pre-tokenizer \(vocabulary.preTokenizer ?? "default")), \(vocabularySize) tokens"
        case .sentencePiece: return "SentencePiece, \(vocabularySize) tokens"
        }
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
    public func tokenID(forText text: String) -> TokenID? { segmenter.id(forText: text) }

    /// Whether the vocabulary has a token for every UTF-8 byte of `text`, which is enough for
    /// `encode` to lose nothing of it. Not every vocabulary does: SmolLM2's byte-level one has
    /// no token for 0x14 and five other control bytes nor for the lead bytes 0xF1 and 0xF2 (code
    /// points U+40000-U+BFFFF), and llama.cpp drops such bytes, as we do
    /// (Tests/Fixtures/smollm2-tokenizer/missing-bytes.jsonl).
    public func hasTokenForEveryByte(of text: String) -> Bool {
        switch segmenter {
        case .bytePairs(let bpe, _): return text.utf8.allSatisfy(bpe.hasToken(forByte:))
        case .sentencePiece(let spm): return text.utf8.allSatisfy(spm.hasToken(forByte:))
        }
    }

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
        let fragments = specials.partition(utf8, parseSpecial: parseSpecial, literalRanges: literalRanges)
        switch segmenter {
        case .bytePairs(let bpe, let pre):
            encodeBytePairs(utf8, fragments, bpe: bpe, pre: pre, into: &output)
        case .sentencePiece(let spm):
            // As llama.cpp: a space goes before text at the start and after a special token.
            var afterSpecial = true
            for fragment in fragments {
                switch fragment {
                case .token(let id):
                    output.append(id)
                    afterSpecial = true
                case .text(let range):
                    spm.encode(utf8[range], spacePrefix: vocabulary.addSpacePrefix && afterSpecial, into: &output)
                    afterSpecial = false
                }
            }
        }
        if addSpecial && vocabulary.addEOS, let eos = vocabulary.eosTokenID { output.append(eos) }
        return output
    }

    private func encodeBytePairs(
        _ utf8: [UInt8], _ fragments: [SpecialTokenMatcher.Fragment], bpe: BPEModel, pre: PreTokenizer,
        into output: inout [TokenID]
    ) {
        var workspace = BPEWorkspace()
        // Words repeat heavily in real text; remember each distinct word's tokens for this call
        // as a range into `pool`.
        var cache: [WordKey: Range<Int>] = [:]
        var pool: [TokenID] = []
        for fragment in fragments {
            switch fragment {
            case .token(let id):
                output.append(id)
            case .text(let range):
                let piece = range == 0..<utf8.count ? utf8 : Array(utf8[range])
                for wordRange in pre.splitByteRanges(piece) {
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
    }

    /// `bytes` with every "▁" (U+2581) written as a space, as llama.cpp renders
    /// SentencePiece tokens.
    private static func unescapingSpaces(_ bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if i + 2 < bytes.count, bytes[i] == 0xE2, bytes[i + 1] == 0x96, bytes[i + 2] == 0x81 {
                result.append(0x20)
                i += 3
            } else {
                result.append(bytes[i])
                i += 1
            }
        }
        return result
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
