import ArgumentParser
import CanopyEngine
import CanopyModel
import Foundation

/// `canopy batch`: offline generation, one JSON request per stdin line, one JSON result per
/// stdout line, as in vLLM's offline mode. All requests run batched on one engine.
struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Generate offline for JSONL requests on stdin; write JSONL results to stdout.",
        discussion: """
            Each input line is {"id": ..., "prompt": "..."} or {"id": ..., "prompt_ids": [...]} \
            or {"id": ..., "messages": [{"role": ..., "content": ...}]}, with optional max_tokens, \
            temperature (0 = greedy), top_k, top_p, min_p, seed, stop, stop_token_ids, ignore_eos, \
            repetition_penalty, frequency_penalty, presence_penalty, n, logprobs. \
            Each output line is {"id", "token_ids", "text", "finish_reason", "usage"} (plus \
            "samples" when n > 1 and "logprobs" when asked), or {"id", "error"} for a line that \
            could not run. Results come in input order.
            """)

    @Option(help: "Path of the GGUF model file.")
    var model: String

    @Option(help: "Tokens to generate for requests that do not set max_tokens.")
    var maxTokens: Int = 256

    @Flag(help: "Compute matrix products in plain f32 instead of llama.cpp-style 8-bit activations.")
    var exactF32 = false

    @OptionGroup var engineOptions: EngineOptions

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    }

    func run() throws {
        try Self.reportingFailures(runBatch)
    }

    private func runBatch() throws {
        let config = try engineOptions.engineConfig(defaultMaxTokens: maxTokens)
        engineOptions.configureThreads()
        let loaded: LoadedModel
        do {
            loaded = try LoadedModel(
                path: model, precision: exactF32 ? .float32 : .quantizedActivations, expertCacheBytes: config.expertCacheBytes,
                weightMemoryBytes: config.weightMemoryBytes)
        } catch {
            throw CommandFailure("\(error)")
        }
        let engine: Engine
        do {
            engine = try Engine(loaded: loaded, config: config)
        } catch {
            throw CommandFailure("\(error)")
        }
        var lines: [String] = []
        while let line = readLine(strippingNewline: true) { lines.append(line) }
        for result in BatchRunner(engine: engine).run(lines: lines) {
            FileHandle.standardOutput.write(Data((result + "\n").utf8))
        }
        engine.shutdown()
        if let cache = loaded.expertCache?.stats() {
            // On stderr: stdout carries only the JSON result lines.
            let ratio = Format.number(100 * cache.hitRatio, digits: 1)
            let line = "expert cache: \(cache.slots)/\(cache.totalExperts) experts resident, hit rate \(ratio) % (\(cache.hits) hits, \(cache.misses) misses, \(cache.prefetchHits) prefetched)\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
        if let residency = loaded.weightResidency {
            FileHandle.standardError.write(Data("\(residency.placement)\nweight streaming: \(residency.statsSummary)\n".utf8))
        }
        if config.kvSwapSpace > 0 {
            let m = engine.metrics()
            let line = "kv swap: \(m.preemptions) preemptions (\(m.swapPreemptions) swapped, \(m.recomputePreemptions) recomputed); "
                + "\(m.kv.swapOutBlocks) blocks written, \(m.kv.swapInBlocks) read back, \(m.kv.prefixSwapHits) prefix hits in the tier, "
                + "\(m.kv.swapFailures) failures\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
}
