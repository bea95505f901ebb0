import Foundation

/// Locates and reads the reference files in `Tests/Fixtures/smollm2-tokenizer/`.
enum Fixtures {
    /// `<repo>/Tests`, found from this file's location.
    static let testsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()

    static let directory = testsDirectory.appendingPathComponent("Fixtures/smollm2-tokenizer")

    /// Decodes every non-empty line of a JSON-lines fixture.
    static func jsonLines<T: Decodable>(_ name: String, as type: T.Type) throws -> [T] {
        let url = directory.appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        let decoder = JSONDecoder()
        return try text.split(separator: "\n").map { try decoder.decode(T.self, from: Data($0.utf8)) }
    }
}

/// One record of `tokenizer.jsonl`.
struct TokenizerRecord: Decodable, Sendable {
    let text: String
    let parseSpecial: Bool
    let ids: [Int32]

    enum CodingKeys: String, CodingKey {
        case text
        case parseSpecial = "parse_special"
        case ids
    }
}

/// One record of `greedy-prompts.jsonl`.
struct PromptRecord: Decodable, Sendable {
    let prompt: String
    let promptIDs: [Int32]

    enum CodingKeys: String, CodingKey {
        case prompt
        case promptIDs = "prompt_ids"
    }
}
