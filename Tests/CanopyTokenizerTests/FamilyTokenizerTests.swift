import CanopyGGUF
import CanopyTokenizer
import Foundation
import Testing

/// The tokenizers of the Llama-family fixture models (`Tests/Fixtures/families/`): byte-level
/// BPE with the `qwen2` pre-tokenizer (Qwen2, Qwen3) and with `llama-bpe` (Llama 3), and
/// SentencePiece with byte fallback (Phi-3), each equal to `llama-tokenize` on the records
/// of its `tokenizer.jsonl`; and each file's chat template recognised as its family's.
@Suite("Model family tokenizers against llama.cpp")
struct FamilyTokenizerTests {
    static func tokenizer(_ family: String) throws -> (Tokenizer, GGUFFile) {
        let path = Fixtures.testsDirectory.appendingPathComponent("Fixtures/families/\(family)/model.gguf").path
        let file = try GGUFFile(path: path)
        return (try Tokenizer(vocabulary: TokenizerVocabulary(gguf: file)), file)
    }

    @Test(arguments: ["llama3", "phi3", "qwen2", "qwen3"])
    func everyRecordMatchesLlamaCpp(family: String) throws {
        let (tokenizer, _) = try Self.tokenizer(family)
        let url = Fixtures.testsDirectory.appendingPathComponent("Fixtures/families/\(family)/tokenizer.jsonl")
        let records = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(Gemma3.Record.self, from: Data($0.utf8)) }
        #expect(records.count >= 20)
        for record in records {
            let ids = tokenizer.encode(record.text, addSpecial: record.addSpecial, parseSpecial: record.parseSpecial)
            #expect(ids == record.ids, "\(family): \(record.text.debugDescription)")
        }
    }

    @Test(arguments: [
        ("llama3", ChatTemplate.Family.llama3), ("phi3", .phi3), ("qwen2", .chatML), ("qwen3", .chatML),
    ])
    func theChatTemplateIsRecognised(family: String, expected: ChatTemplate.Family) throws {
        let (_, file) = try Self.tokenizer(family)
        #expect(try ChatTemplate(template: file.string("tokenizer.chat_template")).family == expected)
    }
}
