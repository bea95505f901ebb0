import CanopyEngine
import CanopyModel
import Foundation
import Testing

/// `canopy batch` semantics on the default model, checked against llama.cpp's greedy tokens
/// (`Tests/Fixtures/smollm2-greedy`).
@Suite("Batch runner", .serialized)
struct BatchRunnerTests {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let modelPath: String = ProcessInfo.processInfo.environment["CANOPY_MODEL"]
        ?? fixtures.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let loaded = Result { try LoadedModel(path: modelPath) }

    struct Record: Decodable {
        let prompt: String
        let prompt_ids: [Int32]
        let greedy_ids: [Int32]
    }

    func records() throws -> [Record] {
        let text = try String(contentsOf: Self.fixtures.appendingPathComponent("smollm2-greedy/greedy.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Record.self, from: Data($0.utf8)) }
    }

    func runner(maxTokens: Int? = nil) throws -> BatchRunner {
        guard FileManager.default.fileExists(atPath: Self.modelPath) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: Self.modelPath + " (run `make model`)"])
        }
        let generator = Generator(loaded: try Self.loaded.get())
        generator.defaultMaxTokens = maxTokens
        return BatchRunner(generator: generator)
    }

    func parse(_ line: String?) throws -> [String: Any] {
        let line = try #require(line)
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test("greedy prompt text ends at the end-of-generation token like llama.cpp")
    func greedyStopsAtEndOfGeneration() throws {
        // Record 3 ("What is the capital of France?") ends with <|im_end|> after 8 tokens.
        let record = try records()[3]
        let request: [String: Any] = ["id": "france", "prompt": record.prompt, "temperature": 0, "max_tokens": 32]
        let line = String(data: try JSONSerialization.data(withJSONObject: request), encoding: .utf8)!
        let result = try parse(try runner().run(line: line, lineNumber: 1))
        #expect(result["id"] as? String == "france")
        #expect((result["token_ids"] as? [Int])?.map { Int32($0) } == record.greedy_ids)
        #expect(result["finish_reason"] as? String == "stop")
        let loaded = try Self.loaded.get()
        let expected = loaded.tokenizer.decode(Array(record.greedy_ids.dropLast()), renderSpecial: false)
        #expect(result["text"] as? String == expected)
    }

    @Test("prompt_ids and max_tokens give finish_reason length")
    func promptIDsAndLength() throws {
        let record = try records()[9]
        let line = #"{"id": 9, "prompt_ids": \#(record.prompt_ids), "temperature": 0, "max_tokens": 5}"#
        let result = try parse(try runner().run(line: line, lineNumber: 1))
        #expect(result["id"] as? Int == 9)
        #expect((result["token_ids"] as? [Int])?.map { Int32($0) } == Array(record.greedy_ids.prefix(5)))
        #expect(result["finish_reason"] as? String == "length")
    }

    @Test("a stop string ends generation and is not emitted")
    func stopString() throws {
        let record = try records()[3]
        let loaded = try Self.loaded.get()
        let full = loaded.tokenizer.decode(Array(record.greedy_ids.dropLast()), renderSpecial: false)
        let stop = "Paris"
        let cut = try #require(full.range(of: stop))
        let line = #"{"id": "s", "prompt_ids": \#(record.prompt_ids), "temperature": 0, "stop": ["\#(stop)"]}"#
        let result = try parse(try runner(maxTokens: 32).run(line: line, lineNumber: 1))
        #expect(result["text"] as? String == String(full[..<cut.lowerBound]))
        #expect(result["finish_reason"] as? String == "stop")
    }

    @Test("chat messages are rendered with the model's template")
    func messages() throws {
        let record = try records()[3]  // rendered from one user message without a system prompt
        let line = #"{"id": "m", "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is the capital of France?"}], "temperature": 0, "max_tokens": 4}"#
        let result = try parse(try runner().run(line: line, lineNumber: 1))
        #expect(result["error"] == nil, "\(result)")
        #expect((result["token_ids"] as? [Int])?.count == 4)
        _ = record
    }

    @Test("bad lines get an error result and do not stop the batch", arguments: [
        ("not json", "not valid JSON"),
        (#"[1, 2]"#, "not a JSON object"),
        (#"{"id": 1}"#, "exactly one of"),
        (#"{"id": 1, "prompt": "a", "prompt_ids": [1]}"#, "exactly one of"),
        (#"{"id": 1, "prompt": "hi", "temperature": -1}"#, "temperature"),
        (#"{"id": 1, "prompt": "hi", "top_p": 1.5}"#, "top_p"),
        (#"{"id": 1, "prompt": "hi", "max_tokens": 0}"#, "max_tokens"),
        (#"{"id": 1, "prompt": "hi", "max_tokens": 100000}"#, "context length"),
        (#"{"id": 1, "prompt_ids": [99999999]}"#, "outside the vocabulary"),
        (#"{"id": 1, "prompt_ids": []}"#, "empty"),
        (#"{"id": 1, "prompt": ""}"#, "empty"),
        (#"{"id": 1, "prompt": "hi", "temprature": 0.5}"#, "unknown field"),
        (#"{"id": 1, "messages": [{"role": "user"}]}"#, "messages[0]"),
    ])
    func badLines(line: String, message: String) throws {
        let runner = try runner(maxTokens: 2)
        let result = try parse(runner.run(line: line, lineNumber: 7))
        let error = try #require(result["error"] as? String, "\(result)")
        #expect(error.contains(message), "\(error)")
        // The next line still runs.
        let ok = try parse(runner.run(line: #"{"id": "next", "prompt": "Hello", "max_tokens": 2}"#, lineNumber: 8))
        #expect((ok["token_ids"] as? [Int])?.count == 2)
    }
}
