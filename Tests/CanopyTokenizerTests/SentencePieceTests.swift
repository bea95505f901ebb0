import CanopyGGUF
import CanopyTokenizer
import Foundation
import Testing

/// SentencePiece (`llama`-model) vocabularies: the merge rule on hand-made vocabularies, and
/// llama.cpp's ids for Gemma 3's 262,144-token vocabulary.
@Suite struct SentencePieceTests {
    /// A vocabulary of the given normal pieces and scores, plus `<unk>` and the 256 byte
    /// tokens, as SentencePiece models with byte fallback have them.
    static func vocabulary(_ pieces: [(String, Float)], addSpacePrefix: Bool = false) -> TokenizerVocabulary {
        var tokens = ["<unk>"], types: [Int32] = [TokenType.unknown.rawValue], scores: [Float] = [0]
        for b in 0..<256 {
            tokens.append(String(format: "<0x%02X>", b))
            types.append(TokenType.byte.rawValue)
            scores.append(0)
        }
        for (text, score) in pieces {
            tokens.append(text)
            types.append(TokenType.normal.rawValue)
            scores.append(score)
        }
        return TokenizerVocabulary(
            model: "llama", preTokenizer: nil, tokens: tokens, tokenTypes: types, merges: [], scores: scores,
            unknownTokenID: 0, addSpacePrefix: addSpacePrefix)
    }

    static func pieces(_ tokenizer: Tokenizer, _ text: String) -> [String] {
        tokenizer.encode(text).map { tokenizer.tokenText($0) }
    }

    @Test func theHighestScoringPairMergesFirstAndTiesGoLeft() throws {
        let chars: [(String, Float)] = [("a", 0), ("b", 0), ("c", 0)]
        let bcFirst = try Tokenizer(vocabulary: Self.vocabulary(chars + [("ab", 1), ("bc", 2)]))
        #expect(Self.pieces(bcFirst, "abc") == ["a", "bc"])
        let abFirst = try Tokenizer(vocabulary: Self.vocabulary(chars + [("ab", 3), ("bc", 2)]))
        #expect(Self.pieces(abFirst, "abc") == ["ab", "c"])
        let tie = try Tokenizer(vocabulary: Self.vocabulary(chars + [("ab", 2), ("bc", 2)]))
        #expect(Self.pieces(tie, "abc") == ["ab", "c"])
        // A merged piece merges again when the longer text is in the vocabulary.
        let whole = try Tokenizer(vocabulary: Self.vocabulary(chars + [("ab", 1), ("abc", 0)]))
        #expect(Self.pieces(whole, "abcab") == ["abc", "ab"])
    }

    @Test func spacesAreEscapedAndMissingCharactersFallBackToBytes() throws {
        let vocabulary = Self.vocabulary([("a", 0), ("▁", 0), ("▁a", 1)], addSpacePrefix: true)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        // add_space_prefix writes a space before the text; "é" is not a piece: its two bytes.
        #expect(Self.pieces(tokenizer, "a é") == ["▁a", "▁", "<0xC3>", "<0xA9>"])
        #expect(tokenizer.decode(tokenizer.encode("a é")) == " a é")
        let noPrefix = try Tokenizer(vocabulary: Self.vocabulary([("a", 0), ("▁", 0), ("▁a", 1)]))
        #expect(Self.pieces(noPrefix, "a a") == ["a", "▁a"])
    }

    @Test func everyGemma3RecordMatchesLlamaCpp() throws {
        let tokenizer = try Gemma3.tokenizer()
        let records = try Gemma3.records()
        #expect(records.count >= 50)
        for record in records {
            let ids = tokenizer.encode(record.text, addSpecial: record.addSpecial, parseSpecial: record.parseSpecial)
            #expect(ids == record.ids, "text: \(record.text.debugDescription)")
            // Decoding gives the text back, except that "▁" written in the text comes back
            // as a space (as in llama.cpp).
            if !record.text.contains("▁") {
                let body = record.addSpecial ? Array(ids.dropFirst()) : ids
                #expect(tokenizer.decode(body, renderSpecial: true) == record.text)
            }
        }
    }

    @Test func gemma3VocabularyMetadata() throws {
        let tokenizer = try Gemma3.tokenizer()
        #expect(tokenizer.vocabularySize == 262_144)
        #expect(tokenizer.preTokenizer == nil)
        #expect(tokenizer.summary == "SentencePiece, 262144 tokens")
        #expect(tokenizer.bosTokenID == 2 && tokenizer.eosTokenID == 1)
        #expect(tokenizer.vocabulary.addBOS && !tokenizer.vocabulary.addSpacePrefix)
        #expect(tokenizer.tokenID(forText: "<end_of_turn>") == 106)
        #expect(tokenizer.isEndOfGeneration(106) && tokenizer.isEndOfGeneration(1))
        // Byte tokens render as their byte.
        #expect(tokenizer.tokenBytes(tokenizer.tokenID(forText: "<0x41>")!) == [0x41])
    }
}

/// Gemma 3 270M's tokenizer (`make model MODEL=gemma3-270m`; `make test` fetches it), from
/// `$CANOPY_GEMMA3_MODEL` or `<repo>/models/gemma-3-270m-q4_k_m.gguf`, and the llama.cpp
/// records of `Tests/Fixtures/gemma3-tokenizer/`.
enum Gemma3 {
    static let modelPath: String = {
        if let path = ProcessInfo.processInfo.environment["CANOPY_GEMMA3_MODEL"], !path.isEmpty { return path }
        return Fixtures.testsDirectory.deletingLastPathComponent()
            .appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path
    }()

    private static let loaded: Result<Tokenizer, SmolLM2.LoadError> = {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            return .failure(.init(description:
                "Gemma 3 model not found at \(modelPath): run `make model MODEL=gemma3-270m` or set CANOPY_GEMMA3_MODEL"))
        }
        do {
            return .success(try Tokenizer(vocabulary: TokenizerVocabulary(gguf: GGUFFile(path: modelPath))))
        } catch {
            return .failure(.init(description: "cannot load the tokenizer of \(modelPath): \(error)"))
        }
    }()

    static func tokenizer() throws -> Tokenizer { try loaded.get() }

    struct Record: Decodable {
        let text: String
        let parseSpecial: Bool
        let addSpecial: Bool
        let ids: [Int32]

        enum CodingKeys: String, CodingKey {
            case text, ids
            case parseSpecial = "parse_special"
            case addSpecial = "add_special"
        }
    }

    static func records() throws -> [Record] {
        let url = Fixtures.testsDirectory.appendingPathComponent("Fixtures/gemma3-tokenizer/tokenizer.jsonl")
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Record.self, from: Data($0.utf8)) }
    }
}
