import ArgumentParser
import CanopyEngine
import CanopyKernels
import CanopyModel
import Foundation

/// Mixture-of-experts speed with expert offloading: for each expert cache size (a fraction
/// of the routed experts' bytes), prompt processing and single-stream generation tokens/s
/// and the cache's hit rate over the timed runs (prompts and generation). One JSON line per size.
struct MoEBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moe",
        abstract: "MoE pp/tg tokens/s per expert cache size: {\"cache_fraction\", \"tg_tokens_per_s\", \"hit_ratio\", ...}")

    @Option(help: "Path of a GGUF mixture-of-experts model.")
    var model: String

    @Option(help: "Expert cache sizes as fractions of the experts' total bytes; 1 maps every expert (no cache).")
    var fractions: String = "1,0.5,0.25"

    @Option(help: "Prompt tokens processed in one batch.")
    var promptTokens: Int = 128

    @Option(help: "Tokens generated one at a time after the prompt.")
    var genTokens: Int = 64

    @Option(help: "Timed repetitions after one warm-up.")
    var repetitions: Int = 3

    func validate() throws {
        guard promptTokens >= 1, genTokens >= 1, repetitions >= 1 else {
            throw ValidationError("--prompt-tokens, --gen-tokens and --repetitions must be at least 1")
        }
    }

    func run() throws {
        _ = try InstructionSet.environmentCap()
        let probe = try LoadedModel(path: model)
        guard probe.config.experts != nil else { throw ValidationError("\(model) has no experts (not a mixture-of-experts model)") }
        let total = try ExpertCache.routedExpertBytes(file: probe.file, config: probe.config)
        let vocabulary = probe.config.vocabularySize
        // Fixed pseudo-random prompt (the same for every size), so the sizes run the same routing.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let prompt = (0..<promptTokens).map { _ -> Int32 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int32((state >> 33) % UInt64(vocabulary))
        }
        for text in fractions.split(separator: ",") {
            guard let fraction = Double(text.trimmingCharacters(in: .whitespaces)), fraction > 0 else {
                throw ValidationError("--fractions: '\(text)' is not a positive number")
            }
            let budget = Int(Double(total) * fraction)
            let loaded = try LoadedModel(path: model, expertCacheBytes: fraction >= 1 ? nil : budget)
            let m = loaded.model
            let capacity = promptTokens + genTokens

            func runOnce() throws -> (pp: Double, tg: Double) {
                let cache = SingleSequenceCache(config: loaded.config, capacity: capacity)
                var batch = ForwardBatch()
                cache.append(prompt, at: 0, to: &batch, wantsLogits: true)
                var start = DispatchTime.now()
                var logits = try m.forward(batch, kv: cache.storage)
                let pp = seconds(since: start)
                start = DispatchTime.now()
                for position in promptTokens..<capacity {
                    let token = logits.withUnsafeBufferPointer { Sampler.argmax($0.baseAddress!, count: vocabulary) }
                    var next = ForwardBatch()
                    cache.append([token], at: position, to: &next, wantsLogits: true)
                    logits = try m.forward(next, kv: cache.storage)
                }
                return (pp, seconds(since: start))
            }

            _ = try runOnce()
            var pp = 0.0, tg = 0.0
            let before = loaded.expertCache?.stats() ?? ExpertCacheStats()
            for _ in 0..<repetitions {
                let (p, t) = try runOnce()
                pp += p
                tg += t
            }
            let after = loaded.expertCache?.stats()
            let hits = (after?.hits ?? 0) - before.hits
            let misses = (after?.misses ?? 0) - before.misses
            let ratio = after == nil ? "null" : String(hits + misses == 0 ? 0 : Double(hits) / Double(hits + misses))
            print(#"{"cache_fraction": \#(fraction), "expert_cache_bytes": \#(after == nil ? total : budget), "#
                + #""experts_total_bytes": \#(total), "slots": \#(after?.slots ?? 0), "#
                + #""pp_tokens_per_s": \#(Double(promptTokens * repetitions) / pp), "#
                + #""tg_tokens_per_s": \#(Double(genTokens * repetitions) / tg), "#
                + #""hit_ratio": \#(ratio), "hits": \#(hits), "misses": \#(misses), "#
                + #""prefetch_hits": \#((after?.prefetchHits ?? 0) - before.prefetchHits), "#
                + #""bytes_read": \#((after?.bytesRead ?? 0) - before.bytesRead)}"#)
        }
    }
}
