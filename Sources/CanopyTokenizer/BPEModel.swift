/// Merge tables of a byte-level BPE vocabulary and the per-word merge loop.
///
/// Symbols are integers: ids below `vocabularySize` are vocabulary tokens; larger ids name
/// strings that occur in merges (or single bytes) but are not tokens themselves. Merging
/// works on these ids, so no strings are built while encoding. The loop follows llama.cpp's
/// `llm_tokenizer_bpe_session`: repeatedly merge the adjacent pair with the lowest merge
/// rank (leftmost first on ties) until no pair has a rank.
struct BPEModel: Sendable {
    /// Number of real vocabulary tokens.
    let vocabularySize: Int
    /// Vocabulary text (byte-mapped form for normal tokens) → id; the last id wins on duplicates.
    let idForText: [String: TokenID]
    /// `symbolForByte[b]`: the symbol a word's byte `b` starts as.
    let symbolForByte: [Int32]
    /// Texts of the non-token symbols, indexed by `id - vocabularySize`.
    let extraSymbolTexts: [String]
    /// `(left << 32) | right` → `(rank << 32) | merged symbol`.
    let merges: MergeTable
    /// Whether a whole word found in the vocabulary bypasses the merges.
    let ignoresMerges: Bool

    /// Whether byte `b` has a vocabulary token of its own; a byte without one is dropped by
    /// `encode` when no merge covers it, as llama.cpp drops it.
    func hasToken(forByte b: UInt8) -> Bool { Int(symbolForByte[Int(b)]) < vocabularySize }

    /// Builds the tables. - Throws: `TokenizerError.invalidVocabulary` for a merge without a space.
    init(tokens: [String], merges mergeStrings: [String], ignoresMerges: Bool) throws(TokenizerError) {
        vocabularySize = tokens.count
        var idForText: [String: TokenID] = [:]
        idForText.reserveCapacity(tokens.count)
        for (i, text) in tokens.enumerated() { idForText[text] = TokenID(i) }
        var extra: [String] = []
        var extraIDs: [String: Int32] = [:]
        let base = Int32(tokens.count)
        func intern(_ s: String) -> Int32 {
            if let id = idForText[s] { return id }
            if let id = extraIDs[s] { return id }
            let id = base + Int32(extra.count)
            extra.append(s)
            extraIDs[s] = id
            return id
        }
        symbolForByte = (0..<256).map { intern(String(ByteUnicodeMapping.scalarForByte[$0])) }
        var table = MergeTable(capacity: mergeStrings.count)
        for (rank, merge) in mergeStrings.enumerated() {
            // Like llama.cpp, split at the first space after the first byte, so a left part
            // may itself start with a space byte.
            let utf8 = Array(merge.utf8)
            guard utf8.count >= 3, let split = utf8[1...].firstIndex(of: 0x20) else {
                throw .invalidVocabulary("merge \(rank) '\(merge)' is not of the form 'left right'")
            }
            let leftText = String(decoding: utf8[..<split], as: UTF8.self)
            let rightText = String(decoding: utf8[(split + 1)...], as: UTF8.self)
            let left = intern(leftText)
            let right = intern(rightText)
            let merged = intern(leftText + rightText)
            let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
            table.insertIfAbsent(key, UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged)))
        }
        self.idForText = idForText
        self.extraSymbolTexts = extra
        self.merges = table
        self.ignoresMerges = ignoresMerges
    }

    /// Appends the tokens of one pre-tokenized word (raw bytes) to `output`.
    func encodeWord(_ word: ArraySlice<UInt8>, workspace: inout BPEWorkspace, into output: inout [TokenID]) {
        if word.count == 1 {
            appendSymbol(symbolForByte[Int(word[word.startIndex])], into: &output)
            return
        }
        if ignoresMerges, let id = idForText[ByteUnicodeMapping.encode(word)] {
            output.append(id)
            return
        }
        workspace.reset()
        for b in word { workspace.symbols.append(symbolForByte[Int(b)]) }
        let n = workspace.symbols.count
        for i in 0..<n {
            workspace.prev.append(Int32(i - 1))
            workspace.next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        for i in 1..<n { pushPair(left: i - 1, right: i, &workspace) }
        while let top = workspace.heap.pop() {
            let left = Int(top.left), right = Int(top.right)
            // A queued pair is stale once either side has been merged into something else.
            guard workspace.symbols[left] == top.leftSymbol, workspace.symbols[right] == top.rightSymbol,
                workspace.next[left] == top.right
            else { continue }
            workspace.symbols[left] = top.merged
            workspace.symbols[right] = -1
            let after = workspace.next[right]
            workspace.next[left] = after
            if after >= 0 { workspace.prev[Int(after)] = Int32(left) }
            let before = workspace.prev[left]
            if before >= 0 { pushPair(left: Int(before), right: left, &workspace) }
            if after >= 0 { pushPair(left: left, right: Int(after), &workspace) }
        }
        var i = 0
        while i >= 0 {
            appendSymbol(workspace.symbols[i], into: &output)
            i = Int(workspace.next[i])
        }
    }

    @inline(__always)
    private func pushPair(left: Int, right: Int, _ workspace: inout BPEWorkspace) {
        let l = workspace.symbols[left], r = workspace.symbols[right]
        let key = UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))
        guard let entry = merges.lookup(key) else { return }
        workspace.heap.push(
            BPEWorkspace.Pair(
                rank: Int32(truncatingIfNeeded: entry >> 32), left: Int32(left), right: Int32(right),
                leftSymbol: l, rightSymbol: r, merged: Int32(truncatingIfNeeded: entry & 0xFFFF_FFFF)))
    }

    /// Emits a finished symbol. A non-token symbol falls back, as in llama.cpp, to looking up
    /// each byte of its text as a one-byte token (only ASCII bytes can match), dropping the rest.
    @inline(__always)
    private func appendSymbol(_ symbol: Int32, into output: inout [TokenID]) {
        if Int(symbol) < vocabularySize {
            output.append(symbol)
            return
        }
        for b in extraSymbolTexts[Int(symbol) - vocabularySize].utf8 where b < 0x80 {
            if let id = idForText[String(UnicodeScalar(b))] { output.append(id) }
        }
    }
}
