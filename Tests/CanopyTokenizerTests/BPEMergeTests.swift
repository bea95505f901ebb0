import CanopyTokenizer
import Testing

/// Merge order on a tiny hand-made vocabulary where the expected tokens follow from the
/// BPE definition: lowest rank first, leftmost first among equal ranks.
@Suite struct BPEMergeTests {
    /// A vocabulary of the 256 byte tokens plus the merged tokens listed.
    static func makeTokenizer(merges: [String], extraTokens: [String]) throws -> Tokenizer {
        var tokens = (0..<256).map { ByteUnicodeMapping.encode([UInt8($0)]) }
        tokens += extraTokens
        tokens.append("<|end|>")
        var types = [Int32](repeating: TokenType.normal.rawValue, count: tokens.count)
        types[types.count - 1] = TokenType.control.rawValue
        let vocabulary = TokenizerVocabulary(
            model: "gpt2", preTokenizer: "gpt2", tokens: tokens, tokenTypes: types, merges: merges)
        return try Tokenizer(vocabulary: vocabulary)
    }

    static func byteID(_ c: Character) -> TokenID { TokenID(c.asciiValue!) }

    @Test func lowestRankMergesFirst() throws {
        let t = try Self.makeTokenizer(merges: ["b c", "a b"], extraTokens: ["bc", "ab"])
        // "b c" has rank 0, so "abc" → a + bc even though "a b" is to the left.
        #expect(t.encode("abc") == [Self.byteID("a"), 256])
        #expect(t.encode("abd") == [257, Self.byteID("d")])
    }

    @Test func equalRanksMergeLeftmostFirst() throws {
        let t = try Self.makeTokenizer(merges: ["a a"], extraTokens: ["aa"])
        #expect(t.encode("aaa") == [256, Self.byteID("a")])
        #expect(t.encode("aaaa") == [256, 256])
    }

    @Test func mergesChainThroughIntermediateResults() throws {
        let t = try Self.makeTokenizer(merges: ["a b", "ab c", "Ġ abc"], extraTokens: ["ab", "abc", "Ġabc"])
        #expect(t.encode("abc abc") == [257, 258])
    }

    @Test func mergeResultsOutsideTheVocabularyFallBackToBytes() throws {
        // "x y" merges into "xy", which is not a token: llama.cpp then emits the one-byte
        // tokens of its text.
        let t = try Self.makeTokenizer(merges: ["x y"], extraTokens: [])
        #expect(t.encode("xy") == [Self.byteID("x"), Self.byteID("y")])
    }

    @Test func specialTokensNeedParseSpecialAndLongestWins() throws {
        let t = try Self.makeTokenizer(merges: [], extraTokens: [])
        let end = TokenID(t.vocabularySize - 1)
        #expect(t.encode("a<|end|>b", parseSpecial: true) == [Self.byteID("a"), end, Self.byteID("b")])
        #expect(!t.encode("a<|end|>b", parseSpecial: false).contains(end))
        #expect(t.endOfGenerationTokens == [end])
    }

    @Test func byteMappingIsABijection() {
        let scalars = ByteUnicodeMapping.scalarForByte
        #expect(Set(scalars).count == 256)
        #expect(scalars[0x20] == "Ġ" && scalars[0x0A] == "Ċ" && scalars[0x41] == "A")
        let all = (0...255).map { UInt8($0) }
        #expect(ByteUnicodeMapping.decode(ByteUnicodeMapping.encode(all)) == all)
    }

    @Test func inconsistentVocabulariesAreRejected() {
        let bad = TokenizerVocabulary(model: "gpt2", preTokenizer: "gpt2", tokens: ["a", "b"], tokenTypes: [1], merges: [])
        #expect(throws: TokenizerError.self) { try Tokenizer(vocabulary: bad) }
        let wordPiece = TokenizerVocabulary(model: "bert", preTokenizer: nil, tokens: ["a"], tokenTypes: [1], merges: [])
        #expect(throws: TokenizerError.unsupportedTokenizerModel("bert")) { try Tokenizer(vocabulary: wordPiece) }
        let spmScores = TokenizerVocabulary(
            model: "llama", preTokenizer: nil, tokens: ["a", "b"], tokenTypes: [1, 1], merges: [], scores: [0])
        #expect(throws: TokenizerError.self) { try Tokenizer(vocabulary: spmScores) }
        let badMerge = TokenizerVocabulary(model: "gpt2", preTokenizer: "gpt2", tokens: ["a"], tokenTypes: [1], merges: ["ab"])
        #expect(throws: TokenizerError.self) { try Tokenizer(vocabulary: badMerge) }
    }
}
