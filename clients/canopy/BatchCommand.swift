import ArgumentParser
import CanopyEngine
import CanopyModel
import Foundation

/// `canopy batch`: offline generation, one JSON request per stdin line, one JSON result per
/// stdout line, as in vLLM's offline mode.
struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Generate offline for JSONL requests on stdin; write JSONL results to stdout.",
        discussion: """
            Each input line is {"id": ..., "prompt": "..."} or {"id": ..., "prompt_ids": [...]} \
            or {"id": ..., "messages": [{"role": ..., "content": ...}]}, with optional max_tokens, \
            temperature (0 = greedy), top_k, top_p, min_p, seed, stop, stop_token_ids, ignore_eos. \
            Each output line is {"id", "token_ids", "text", "finish_reason", "usage"}, or \
            {"id", "error"} for a line that could not run.
            """)

    @Option(help: "Path of the GGUF model file.")
    var model: String

    @Option(help: "Tokens to generate for requests that do not set max_tokens.")
    var maxTokens: Int = 256

    @Flag(help: "Compute matrix products in plain f32 instead of llama.cpp-style 8-bit activations.")
    var exactF32 = false

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    }

    func run() throws {
        try Self.reportingFailures(runBatch)
    }

    private func runBatch() throws {
        let loaded: LoadedModel
        do {
            loaded = try LoadedModel(path: model, precision: exactF32 ? .float32 : .quantizedActivations)
        } catch {
            throw CommandFailure("\(error)")
        }
        let generator = Generator(loaded: loaded)
        generator.defaultMaxTokens = maxTokens
        let runner = BatchRunner(generator: generator)
        var lineNumber = 0
        while let line = readLine(strippingNewline: true) {
            lineNumber += 1
            if let result = runner.run(line: line, lineNumber: lineNumber) {
                // Unbuffered, so each result reaches a pipe as soon as it is ready.
                FileHandle.standardOutput.write(Data((result + "\n").utf8))
            }
        }
    }
}
