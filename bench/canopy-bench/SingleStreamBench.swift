import ArgumentParser
import CanopyEngine
import CanopyKernels
import CanopyModel
import Foundation

/// Prompt processing and single-stream generation speed, measured the way llama.cpp's
/// `llama-bench` measures pp and tg: random prompt tokens in one batch; then tokens
/// generated one at a time from an empty context.
struct SingleStreamBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "single",
        abstract: "pp and tg tokens/s: {\"pp_tokens_per_s\", \"tg_tokens_per_s\", ...}")

    @Option(help: "Path of the GGUF model file.")
    var model: String

    @Option(help: "Prompt tokens processed in one batch (llama-bench's pp).")
    var promptTokens: Int = 512

    @Option(help: "Tokens generated one at a time from an empty context (llama-bench's tg).")
    var genTokens: Int = 128

    @Option(help: "Kernel worker threads (llama-bench's -t); 0 means one per physical core.")
    var threads: Int = 2

    @Option(help: "Timed repetitions of each test after one warm-up.")
    var repetitions: Int = 3

    func run() throws {
        try configureKernels(threads: threads)
        let loaded = try LoadedModel(path: model)
        let m = loaded.model
        let vocabulary = loaded.config.vocabularySize
        // llama-bench feeds random tokens; any valid ids measure the same work.
        var random = SystemRandomNumberGenerator()
        let prompt = (0..<promptTokens).map { _ in Int32.random(in: 0..<Int32(vocabulary), using: &random) }

        func timePrompt() throws -> Double {
            let cache = SingleSequenceCache(config: loaded.config, capacity: promptTokens)
            var batch = ForwardBatch()
            cache.append(prompt, at: 0, to: &batch, wantsLogits: true)
            let start = DispatchTime.now()
            _ = try m.forward(batch, kv: cache.storage)
            return seconds(since: start)
        }
        func timeGeneration() throws -> Double {
            let cache = SingleSequenceCache(config: loaded.config, capacity: genTokens)
            // The engine's steady state: one batch and one logits buffer, reused every step.
            var tokens = [prompt[0]]
            var batch = ForwardBatch()
            var logits = [Float](repeating: 0, count: vocabulary)
            let start = DispatchTime.now()
            for position in 0..<genTokens {
                batch.removeAll()
                cache.append(tokens, at: position, to: &batch, wantsLogits: true)
                try logits.withUnsafeMutableBufferPointer { try m.forward(batch, kv: cache.storage, logits: $0) }
                tokens[0] = logits.withUnsafeBufferPointer { Sampler.argmax($0.baseAddress!, count: vocabulary) }
            }
            return seconds(since: start)
        }

        _ = try timePrompt()
        let pp = try (0..<repetitions).map { _ in try timePrompt() }
        _ = try timeGeneration()
        let tg = try (0..<repetitions).map { _ in try timeGeneration() }
        let ppRate = Double(promptTokens) / (pp.reduce(0, +) / Double(pp.count))
        let tgRate = Double(genTokens) / (tg.reduce(0, +) / Double(tg.count))
        print(#"{"pp_tokens_per_s": \#(ppRate), "tg_tokens_per_s": \#(tgRate), "prompt_tokens": \#(promptTokens), "gen_tokens": \#(genTokens), "kernel_isa": "\#(InstructionSet.summary)"}"#)
    }
}

/// Seconds elapsed since `start`.
func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}
