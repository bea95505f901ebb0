import ArgumentParser
import CanopyEngine
import CanopyKernels
import CanopyModel
import Foundation

/// Batched throughput through the serving engine, the shape of llama.cpp's
/// `llama-batched-bench -npp P -ntg G -npl B`: B concurrent requests, each with its own
/// P-token prompt and exactly G generated tokens.
struct BatchedBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batched",
        abstract: "Total tokens/s with B concurrent requests: one JSON line per stream count.")

    @Option(help: "Path of the GGUF model file.")
    var model: String

    @Option(help: "Comma-separated numbers of concurrent requests.")
    var streams: String = "1,8,32,64"

    @Option(help: "Prompt tokens per request.")
    var promptTokens: Int = 128

    @Option(help: "Generated tokens per request.")
    var genTokens: Int = 128

    @Option(help: "KV cache bytes.")
    var kvCacheMemory: Int = 1 << 30

    @Option(help: "Most tokens per engine step.")
    var maxBatchedTokens: Int = 1024

    @Option(help: "Kernel worker threads (llama-batched-bench's -t); 0 means one per physical core.")
    var threads: Int = 2

    @Option(help: "Bytes of the model file kept in memory; the layers that do not fit stream from the file (--weight-memory).")
    var weightMemory: Int?

    @Flag(help: "With --weight-memory, read streamed layers only when needed, never ahead (to measure prefetching).")
    var noWeightPrefetch = false

    @Option(help: "Bytes of the KV swap tier for preempted sequences (--kv-swap-space); 0 = off, recompute only.")
    var kvSwapSpace: Int = 0

    @Option(help: "Sampling temperature; 0 (the default) decodes greedily, as llama-batched-bench does.")
    var temperature: Float = 0

    @Option(help: "Top-p cut when sampling (1 = off).")
    var topP: Float = 1

    @Option(help: "Speculative decoding: off (the default: llama-batched-bench does not speculate, and the generated text of random prompts repeats itself, which n-gram proposals would turn into speed) or ngram.")
    var speculative: String = SpeculativeMode.off.rawValue

    func run() throws {
        try configureKernels(threads: threads)
        let loaded = try LoadedModel(path: model, weightMemoryBytes: weightMemory, weightPrefetch: !noWeightPrefetch)
        if let residency = loaded.weightResidency {
            FileHandle.standardError.write(Data("\(residency.placement)\n".utf8))
        }
        let counts = streams.split(separator: ",").compactMap { Int($0) }
        var config = EngineConfig()
        config.kvCacheMemory = kvCacheMemory
        config.maxSequences = max(64, counts.max() ?? 1)
        config.maxBatchedTokens = maxBatchedTokens
        // Distinct random prompts: no prefix-cache help, as in llama-batched-bench.
        config.prefixCaching = false
        config.kvSwapSpace = kvSwapSpace
        guard let mode = SpeculativeMode(rawValue: speculative), mode != .draft else {
            throw ValidationError("--speculative must be off or ngram, got \(speculative)")
        }
        config.speculative = mode
        let engine = try Engine(loaded: loaded, config: config)
        var random = SystemRandomNumberGenerator()
        let vocabulary = Int32(loaded.config.vocabularySize)
        for count in counts {
            let done = DispatchGroup()
            let start = DispatchTime.now()
            let decodeTimes = DecodeTimes(count: count)
            for i in 0..<count {
                var request = Request(
                    id: "b\(i)",
                    prompt: .tokenIDs((0..<promptTokens).map { _ in Int32.random(in: 0..<vocabulary, using: &random) }))
                request.sampling.temperature = temperature
                request.sampling.topP = topP
                request.sampling.seed = UInt64(i + 1)
                request.stop.maxTokens = genTokens
                request.stop.ignoreEndOfGeneration = true
                done.enter()
                try engine.submit(request) { event in
                    switch event {
                    case .token: decodeTimes.token(request: i)
                    case .completed:
                        decodeTimes.completed(request: i)
                        done.leave()
                    default: break
                    }
                }
            }
            done.wait()
            let elapsed = seconds(since: start)
            let generated = Double(count * genTokens)
            let m = engine.metrics()
            let line = #"{"streams": \#(count), "seconds": \#(elapsed), "gen_tokens_per_s": \#(generated / elapsed), "total_tokens_per_s": \#(Double(count * (promptTokens + genTokens)) / elapsed), "tpot_ms_p50": \#(decodeTimes.medianTimePerOutputToken(generated: genTokens) * 1000), "preemptions": \#(m.preemptions), "swap_preemptions": \#(m.swapPreemptions), "batched_tokens": \#(m.batchedTokens), "swap_out_bytes": \#(m.kv.swapOutBytes)}"#
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
        engine.shutdown()
        if let residency = loaded.weightResidency {
            FileHandle.standardError.write(Data("weight streaming: \(residency.statsSummary)\n".utf8))
        }
    }
}

/// Each request's first-token and completion times, for its time per output token after the
/// first (TPOT, as `canopy bench` reports it for requests through the socket: (end - first
/// token) / (tokens - 1)). Written from the engine thread, read after all requests completed.
final class DecodeTimes: @unchecked Sendable {
    private let lock = NSLock()
    private var first: [DispatchTime?]
    private var end: [DispatchTime?]

    init(count: Int) {
        first = Array(repeating: nil, count: count)
        end = Array(repeating: nil, count: count)
    }

    func token(request i: Int) {
        let now = DispatchTime.now()
        lock.withLock { if first[i] == nil { first[i] = now } }
    }

    func completed(request i: Int) {
        let now = DispatchTime.now()
        lock.withLock { end[i] = now }
    }

    /// Median over the requests of (completion - first token) / (generated - 1), in seconds;
    /// 0 when no request produced two tokens.
    func medianTimePerOutputToken(generated: Int) -> Double {
        guard generated > 1 else { return 0 }
        let values = lock.withLock {
            zip(first, end).compactMap { pair -> Double? in
                guard let a = pair.0, let b = pair.1 else { return nil }
                return Double(b.uptimeNanoseconds - a.uptimeNanoseconds) / 1e9 / Double(generated - 1)
            }.sorted()
        }
        return values.isEmpty ? 0 : values[values.count / 2]
    }
}
