/// A token id as used by the model: an index into the vocabulary.
public typealias TokenID = Int32

/// The role of a vocabulary entry, as stored in `tokenizer.ggml.token_type`.
public enum TokenType: Int32, Sendable, Equatable {
    /// No type recorded; renders as nothing.
    case undefined = 0
    /// Ordinary text, stored in the byte-mapped form.
    case normal = 1
    /// The unknown-token placeholder; treated like a control token.
    case unknown = 2
    /// Markers such as `<|im_start|>`: matched in text only with `parseSpecial`, rendered only
    /// with `renderSpecial`.
    case control = 3
    /// Added plain-text tokens: always matched in text and always rendered.
    case userDefined = 4
    /// Reserved slot; renders as nothing.
    case unused = 5
    /// A raw byte token (SentencePiece style); renders as nothing in BPE vocabularies.
    case byte = 6
}

/// Everything needed to build a `Tokenizer`, independent of where it was read from.
///
/// `tokens[i]` is the text of token `i` in the vocabulary's own form (byte-level BPE
/// vocabularies store bytes through `ByteUnicodeMapping`; control and user-defined tokens are
/// plain text). `merges` are "left right" pairs in rank order (rank = index).
public struct TokenizerVocabulary: Sendable, Equatable {
    /// `tokenizer.ggml.model`, e.g. "gpt2".
    public var model: String
    /// `tokenizer.ggml.pre`, e.g. "smollm"; nil when the file does not say.
    public var preTokenizer: String?
    /// Token texts, indexed by id.
    public var tokens: [String]
    /// Raw token types (see `TokenType`), same length as `tokens`.
    public var tokenTypes: [Int32]
    /// SentencePiece merge scores (`tokenizer.ggml.scores`), one per token, or empty.
    public var scores: [Float]
    /// BPE merges, "left right", lowest rank first.
    public var merges: [String]
    /// Beginning-of-sequence token (`tokenizer.ggml.bos_token_id`).
    public var bosTokenID: TokenID?
    /// End-of-sequence token (`tokenizer.ggml.eos_token_id`).
    public var eosTokenID: TokenID?
    /// End-of-turn token (`tokenizer.ggml.eot_token_id`), when the file names one.
    public var eotTokenID: TokenID?
    /// Unknown-token placeholder (`tokenizer.ggml.unknown_token_id`).
    public var unknownTokenID: TokenID?
    /// Padding token (`tokenizer.ggml.padding_token_id`).
    public var paddingTokenID: TokenID?
    /// Whether `encode(addSpecial: true)` prepends BOS.
    public var addBOS: Bool
    /// Whether `encode(addSpecial: true)` appends EOS.
    public var addEOS: Bool
    /// Whether SentencePiece text gets a space before it at the start and after a special
    /// token (`tokenizer.ggml.add_space_prefix`).
    public var addSpacePrefix: Bool
    /// The Jinja chat template string, if the model ships one.
    public var chatTemplate: String?
    /// The model's name (`general.name`): llama.cpp keys a few tokenizer quirks on it (see
    /// `Tokenizer.init`).
    public var modelName: String?

    /// Creates a vocabulary; `validate()` is run by `Tokenizer.init`, not here.
    public init(
        model: String, preTokenizer: String?, tokens: [String], tokenTypes: [Int32],
        merges: [String], scores: [Float] = [], bosTokenID: TokenID? = nil, eosTokenID: TokenID? = nil,
        eotTokenID: TokenID? = nil, unknownTokenID: TokenID? = nil, paddingTokenID: TokenID? = nil,
        addBOS: Bool = false, addEOS: Bool = false, addSpacePrefix: Bool = false, chatTemplate: String? = nil,
        modelName: String? = nil
    ) {
        self.model = model
        self.preTokenizer = preTokenizer
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.scores = scores
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.eotTokenID = eotTokenID
        self.unknownTokenID = unknownTokenID
        self.paddingTokenID = paddingTokenID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
        self.chatTemplate = chatTemplate
        self.modelName = modelName
    }

    /// The type of token `id`; `.undefined` for raw values outside the known set.
    public func tokenType(_ id: TokenID) -> TokenType {
        TokenType(rawValue: tokenTypes[Int(id)]) ?? .undefined
    }

    /// Checks the invariants the tokenizer relies on.
    /// - Throws: `TokenizerError.invalidVocabulary` describing the first violation found.
    public func validate() throws(TokenizerError) {
        guard !tokens.isEmpty else { throw .invalidVocabulary("the token list is empty") }
        guard tokens.count < Int(Int32.max) / 2 else {
            throw .invalidVocabulary("\(tokens.count) tokens is more than Canopy supports")
        }
        guard tokenTypes.count == tokens.count else {
            throw .invalidVocabulary(
                "\(tokens.count) tokens but \(tokenTypes.count) token types")
        }
        let special: [(String, TokenID?)] = [
            ("bos", bosTokenID), ("eos", eosTokenID), ("eot", eotTokenID),
            ("unknown", unknownTokenID), ("padding", paddingTokenID),
        ]
        for (name, id) in special {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw .invalidVocabulary(
                    "\(name) token id \(id) is outside the vocabulary (0..<\(tokens.count))")
            }
        }
        if addBOS && bosTokenID == nil {
            throw .invalidVocabulary("add_bos_token is true but no bos_token_id is set")
        }
        if addEOS && eosTokenID == nil {
            throw .invalidVocabulary("add_eos_token is true but no eos_token_id is set")
        }
        if !scores.isEmpty && scores.count != tokens.count {
            throw .invalidVocabulary("\(tokens.count) tokens but \(scores.count) scores")
        }
    }
}
