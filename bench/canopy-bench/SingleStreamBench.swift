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

    @Option(help: "Also time decode steps of 1...N tokens that each want logits (a speculative verification window): one JSON line per size.")
    var windows: Int = 0

    @Option(help: "Tokens already in the sequence's cache when --windows steps run (their attention grows with it).")
    var windowContext: Int = 160

    @Option(help: "Sequences decoding in each --windows step: the window rides on the first, the others add a token each (a proposal's cost beside other decodes).")
    var windowDecodes: Int = 1

    @Option(help: "Untimed one-token steps of the same sequences before each timed --windows step (in the engine a window mostly follows one-token steps).")
    var windowLead: Int = 4

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

        if windows > 0 { try timeWindows(loaded) }
        _ = try timePrompt()
        let pp = try (0..<repetitions).map { _ in try timePrompt() }
        _ = try timeGeneration()
        let tg = try (0..<repetitions).map { _ in try timeGeneration() }
        let ppRate = Double(promptTokens) / (pp.reduce(0, +) / Double(pp.count))
        let tgRate = Double(genTokens) / (tg.reduce(0, +) / Double(tg.count))
        print(#"{"pp_tokens_per_s": \#(ppRate), "tg_tokens_per_s": \#(tgRate), "prompt_tokens": \#(promptTokens), "gen_tokens": \#(genTokens), "kernel_isa": "\#(InstructionSet.summary)"}"#)
    }
}

extension SingleStreamBench {
    /// What a speculative verification step costs by its size: a step of `w` tokens, logits
    /// after each, at positions C..<C + w of one sequence (C = `windowContext`; its K/V
    /// rewritten each time), for w = 1...windows; the median of 40 steps each (the sizes taken
    /// in turn), and its ratio to the one-token step (the `1 + cost × (w − 1)` line that
    /// `EngineConfig.speculativeTokenCost` models). The ratio can grow with C: a window's
    /// attention is w rows over the context where the one-token step's is one (a fifth of a
    /// 9-token window's CPU time at C = 300 on a 2-core Zen 3, `perf record`), so the
    /// speculative bench measures it at its prompts' mean context too.
    ///
    /// Every timed step follows `windowLead` untimed one-token steps, as a window in the engine
    /// mostly follows one-token steps (one sequence decodes alone, and most of its steps
    /// propose nothing). A step's time depends on the one before it: on a 2-core Xeon whose L3
    /// holds the weights, a one-token step took 2.6-2.9 ms after one-token steps and 3.2-4.5
    /// ms right after a 9-token window (CANOPY_MAX_ISA avx2 and avx512vnni alike), so timing
    /// the sizes back to back put the one-token step 15-60 % too high and every ratio too low
    /// against what the engine measures for itself.
    ///
    /// With `windowDecodes` D > 1, D - 1 more sequences (each with C cached tokens of its own)
    /// decode one token in every step beside the window: a line per w gives the step's time
    /// and what each of its w - 1 proposals added to the step of D plain decodes (w = 1), the
    /// price `VerificationCostModel.batchThreshold` measures in the engine.
    func timeWindows(_ loaded: LoadedModel) throws {
        guard windowContext >= 1 else { throw ValidationError("--window-context must be at least 1, got \(windowContext)") }
        guard windowDecodes >= 1 else { throw ValidationError("--window-decodes must be at least 1, got \(windowDecodes)") }
        guard windowLead >= 0 else { throw ValidationError("--window-lead must be at least 0, got \(windowLead)") }
        let context = windowContext, vocabulary = loaded.config.vocabularySize, decodes = windowDecodes
        let blockSize = 16, blocksEach = (context + windows + blockSize - 1) / blockSize
        var random = SystemRandomNumberGenerator()
        let tokens = (0..<decodes).map { _ in
            (0..<(context + windows)).map { _ in Int32.random(in: 0..<Int32(vocabulary), using: &random) }
        }
        // One arena; sequence s owns blocks s·blocksEach ..< (s + 1)·blocksEach.
        let cache = SingleSequenceCache(config: loaded.config, capacity: decodes * blocksEach * blockSize, blockSize: blockSize)
        let tables = (0..<decodes).map { s in (0..<blocksEach).map { Int32(s * blocksEach + $0) } }
        var batch = ForwardBatch()
        func add(_ s: Int, count: Int, at position: Int, logitRows: Int) {
            batch.append(tokens: tokens[s][position..<(position + count)], firstPosition: position,
                         blockTable: tables[s][...], blockSize: blockSize, logitRows: logitRows)
        }
        for s in 0..<decodes {
            batch.removeAll()
            add(s, count: context, at: 0, logitRows: 0)
            _ = try loaded.model.forward(batch, kv: cache.storage)
        }
        var logits = [Float](repeating: 0, count: vocabulary * (windows + decodes - 1))
        /// A step of `w` tokens of sequence 0 and one of each other sequence, logits after
        /// each; the seconds of its forward pass.
        func step(window w: Int) throws -> Double {
            batch.removeAll()
            add(0, count: w, at: context, logitRows: w)
            for s in 1..<decodes { add(s, count: 1, at: context, logitRows: 1) }
            let start = DispatchTime.now()
            try logits.withUnsafeMutableBufferPointer { try loaded.model.forward(batch, kv: cache.storage, logits: $0) }
            return seconds(since: start)
        }
        // Sizes in turn, 40 rounds, so that the machine's drift reaches every size alike.
        var times = [[Double]](repeating: [], count: windows + 1)
        for _ in 0..<40 {
            for w in 1...windows {
                for _ in 0..<windowLead { _ = try step(window: 1) }
                times[w].append(try step(window: w))
            }
        }
        let medians = times.map { $0.isEmpty ? 0 : $0.sorted()[$0.count / 2] }
        for w in 1...windows {
            let median = medians[w], one = medians[1]
            if decodes == 1 {
                print(#"{"window": \#(w), "step_ms": \#(median * 1000), "one_token_steps": \#(median / one)}"#)
            } else {
                let perProposal = w > 1 ? (median - one) * 1000 / Double(w - 1) : 0
                print(#"{"window": \#(w), "decodes": \#(decodes), "step_ms": \#(median * 1000), "ms_per_proposal": \#(perProposal)}"#)
            }
        }
    }
}

/// Seconds elapsed since `start`.
func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}
