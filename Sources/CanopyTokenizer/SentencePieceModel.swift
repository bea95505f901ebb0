/// SentencePiece segmentation (`tokenizer.ggml.model = llama`: Gemma, Llama 2, Mistral,
/// Phi-3), reproducing llama.cpp's `llm_tokenizer_spm_session`.
///
/// A text fragment has its spaces written as "▁" (U+2581) and is split into UTF-8
/// characters; then, repeatedly, the adjacent pair whose concatenation is a vocabulary entry
/// with the highest score is merged (the leftmost pair on equal scores), until no adjacent
/// pair forms an entry. Each final piece is its token, or, when it is not one (a character
/// the vocabulary lacks), the byte-fallback tokens `<0xXX>` of its bytes.
///
/// Merged pieces are always vocabulary entries (a pair is queued only if its concatenation
/// is one), so only single characters can need the byte fallback. Immutable; `encode` keeps
/// its working state on the stack of the call.
struct SentencePieceModel: Sendable {
    /// Vocabulary text (as stored, "▁" for spaces) as bytes → id; the last id wins on
    /// duplicates. Keyed by bytes so merges look pieces up without building strings.
    private let idForBytes: [WordKey: TokenID]
    /// Merge priority of each token (`tokenizer.ggml.scores`).
    private let scores: [Float]
    /// `byteToken[b]`: the token a byte falls back to (`<0xXX>`, else the byte's own text),
    /// nil when the vocabulary has neither; then the unknown token is used, if any.
    private let byteToken: [TokenID?]
    private let unknownToken: TokenID?

    /// "▁", the escaped space.
    static let escapedSpace: [UInt8] = [0xE2, 0x96, 0x81]

    /// Builds the tables. `scores` may be empty (every score 0, as llama.cpp reads a file
    /// without them); otherwise it has one score per token.
    init(tokens: [String], scores: [Float], unknownToken: TokenID?) throws(TokenizerError) {
        guard scores.isEmpty || scores.count == tokens.count else {
            throw .invalidVocabulary("\(tokens.count) tokens but \(scores.count) scores")
        }
        var idForBytes: [WordKey: TokenID] = [:]
        idForBytes.reserveCapacity(tokens.count)
        for (i, text) in tokens.enumerated() {
            idForBytes[WordKey(ArraySlice(text.utf8))] = TokenID(i)
        }
        byteToken = (0..<256).map { b -> TokenID? in
            idForBytes[WordKey(Self.byteTokenText(UInt8(b))[...])] ?? idForBytes[WordKey([UInt8(b)][...])]
        }
        self.idForBytes = idForBytes
        self.scores = scores.isEmpty ? [Float](repeating: 0, count: tokens.count) : scores
        self.unknownToken = unknownToken
    }

    /// Whether byte `b` has a fallback token (`<0xXX>` or its own text), so a character the
    /// vocabulary lacks still encodes without `<unk>`.
    func hasToken(forByte b: UInt8) -> Bool { byteToken[Int(b)] != nil }

    /// The text of byte `b`'s fallback token, `<0xXX>` (upper-case hex).
    static func byteTokenText(_ b: UInt8) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        return Array("<0x".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)], UInt8(ascii: ">")]
    }

    /// The byte a fallback token's text `<0xXX>` stands for; nil for other texts.
    static func byteValue(ofByteToken text: String) -> UInt8? {
        guard text.utf8.count == 6, text.hasPrefix("<0x"), text.hasSuffix(">") else { return nil }
        return UInt8(text.dropFirst(3).prefix(2), radix: 16)
    }

    /// The id whose stored text is exactly `text`, if any.
    func id(forText text: String) -> TokenID? { idForBytes[WordKey(ArraySlice(text.utf8))] }

    /// Appends the tokens of one text fragment to `output`; with `spacePrefix` a space is
    /// written before it (`add_space_prefix` after a special token or at the start).
    func encode(_ fragment: ArraySlice<UInt8>, spacePrefix: Bool, into output: inout [TokenID]) {
        var text: [UInt8] = []
        text.reserveCapacity(fragment.count + fragment.count / 2 + 3)
        if spacePrefix { text.append(contentsOf: Self.escapedSpace) }
        for byte in fragment {
            if byte == 0x20 { text.append(contentsOf: Self.escapedSpace) } else { text.append(byte) }
        }
        guard !text.isEmpty else { return }

        // Pieces as a linked list over the characters: start, length (0 once merged away).
        var start: [Int] = []
        var length: [Int] = []
        var offset = 0
        while offset < text.count {
            let n = min(Self.utf8Length(leading: text[offset]), text.count - offset)
            start.append(offset)
            length.append(n)
            offset += n
        }
        let count = start.count
        var previous = (0..<count).map { $0 - 1 }
        var next = (0..<count).map { $0 + 1 < count ? $0 + 1 : -1 }

        var queue = BinaryHeap<Bigram>()
        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let size = length[left] + length[right]
            guard let id = idForBytes[WordKey(text[start[left]..<(start[left] + size)])] else { return }
            queue.push(.init(score: scores[Int(id)], left: left, right: right, size: size))
        }
        for i in 1..<max(count, 1) { consider(i - 1, i) }
        while let bigram = queue.pop() {
            let left = bigram.left, right = bigram.right
            // Stale when either side has changed since the pair was queued.
            guard length[left] > 0, length[right] > 0, length[left] + length[right] == bigram.size else { continue }
            length[left] += length[right]
            length[right] = 0
            next[left] = next[right]
            if next[right] >= 0 { previous[next[right]] = left }
            consider(previous[left], left)
            consider(left, next[left])
        }

        var i = 0
        while i != -1 {
            let piece = text[start[i]..<(start[i] + length[i])]
            if let id = idForBytes[WordKey(piece)] {
                output.append(id)
            } else {
                for byte in piece {
                    if let id = byteToken[Int(byte)] ?? unknownToken { output.append(id) }
                }
            }
            i = next[i]
        }
    }

    /// Bytes of the UTF-8 sequence a leading byte starts (1 for continuation or invalid
    /// bytes, which llama.cpp also takes one at a time).
    private static func utf8Length(leading byte: UInt8) -> Int {
        switch byte >> 4 {
        case 0xF: return 4
        case 0xE: return 3
        case 0xC, 0xD: return 2
        default: return 1
        }
    }
}

/// A candidate merge of two adjacent pieces.
private struct Bigram: HeapOrdered {
    let score: Float
    let left: Int
    let right: Int
    let size: Int

    /// Pops first: the higher score, then the leftmost.
    func precedes(_ other: Bigram) -> Bool {
        score > other.score || (score == other.score && left < other.left)
    }
}
