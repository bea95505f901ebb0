import ArgumentParser
import CanopyEngine
import CanopyKernels
import CanopyModel
import Foundation

/// Speculative decoding through the serving engine: the same prompts at each concurrency,
/// with speculation off and on (n-gram proposals, chosen per request), in the same process.
/// One JSON line per (streams, mode): generated tokens/s over the wall time (prompts
/// included), decode steps, proposals and acceptance, and whether every request's tokens
/// equal the run without speculation (greedy: they must).
struct SpeculativeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "speculative",
        abstract: "Tokens/s with speculation off and on at each stream count: one JSON line per run.")

    @Option(help: "Path of the GGUF model file.")
    var model: String

    @Option(help: "JSONL file of prompts: one object per line with a \"text\" field (rendered chat prompt).")
    var prompts: String

    @Option(help: "Comma-separated numbers of concurrent requests.")
    var streams: String = "1,8,32"

    @Option(help: "Most generated tokens per request (requests also stop at end of generation).")
    var genTokens: Int = 128

    @Option(help: "Most proposals per sequence per step (--spec-tokens).")
    var specTokens: Int = 8

    @Option(help: "Most decode tokens in a step that speculates (--spec-step-tokens).")
    var stepTokens: Int = EngineConfig().speculativeStepTokens

    @Option(help: "Kernel worker threads; 0 means one per physical core.")
    var threads: Int = 2

    @Option(help: "Requests per run at least (the prompts repeat to fill it); at least the stream count.")
    var requests: Int = 0

    @Option(help: "Runs of each mode per stream count, alternating off and on (which goes first alternates too); the fastest of each is reported, with every round's on/off ratio.")
    var repeats: Int = 1

    @Option(help: "Also write each prompt's token ids and its greedy output (speculation off) to this JSONL file, unless it exists.")
    var dump: String?

    func run() throws {
        try configureKernels(threads: threads)
        let loaded = try LoadedModel(path: model)
        let texts = try String(contentsOfFile: prompts, encoding: .utf8).split(separator: "\n").compactMap { line -> String? in
            guard let data = line.data(using: .utf8),
                  let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { return nil }
            return object["text"] as? String
        }
        guard !texts.isEmpty else { throw ValidationError("no prompts with a \"text\" field in \(prompts)") }
        var config = EngineConfig()
        config.maxSequences = 64
        config.speculativeStepTokens = stepTokens
        // Every request starts from its own prompt; the cache would let a repeated prompt skip
        // its prefill in one mode and not the other.
        config.prefixCaching = false
        let engine = try Engine(loaded: loaded, config: config)
        let modes = [("off", 0), ("ngram", specTokens)]
        for count in streams.split(separator: ",").compactMap({ Int($0) }) {
            let total = max(count, requests, texts.count)
            var best: [String: Run] = [:]
            var reference: [[Int32]]?
            // Each round's on/off tokens/s: the two runs of a round are adjacent in time, so
            // their ratio is what the machine's drift disturbs least.
            var ratios: [Double] = []
            for round in 0..<max(1, repeats) {
                var runs = [String: Run]()
                if count == 1 {
                    // One request at a time: alternate the modes request by request, so that both
                    // see the same moments of a machine whose speed drifts.
                    for i in 0..<total {
                        for (mode, tokens) in modes {
                            let run = try measure(engine, texts: [texts[i % texts.count]], total: 1, concurrency: 1, speculativeTokens: tokens)
                            runs[mode, default: Run()].add(run)
                        }
                    }
                } else {
                    // Off first in even rounds, on first in odd ones, so that neither mode always
                    // runs on an engine the other has just warmed or fragmented.
                    for (mode, tokens) in round % 2 == 0 ? modes : modes.reversed() {
                        runs[mode] = try measure(engine, texts: texts, total: total, concurrency: count, speculativeTokens: tokens)
                    }
                }
                ratios.append(runs["ngram"]!.rate / runs["off"]!.rate)
                if reference == nil {
                    reference = runs["off"]!.outputs.map(\.tokens)
                    if let dump, !FileManager.default.fileExists(atPath: dump) {
                        // Once per prompt (the requests cycle through them), from the first stream count's run.
                        let lines = runs["off"]!.outputs.prefix(texts.count).map {
                            #"{"prompt": \#($0.prompt), "output": \#($0.tokens)}"#
                        }
                        try (lines.joined(separator: "\n") + "\n").write(toFile: dump, atomically: true, encoding: .utf8)
                    }
                }
                for (mode, _) in modes {
                    var run = runs[mode]!
                    run.identical = run.outputs.map(\.tokens) == reference!
                    FileHandle.standardError.write(Data((run.line(streams: count, mode: mode) + "\n").utf8))
                    let identical = run.identical && (best[mode]?.identical ?? true)
                    if run.rate > best[mode]?.rate ?? 0 { best[mode] = run }
                    best[mode]!.identical = identical
                }
            }
            for (mode, _) in modes {
                let line = best[mode]!.line(streams: count, mode: mode, roundRatios: mode == "ngram" ? ratios : nil)
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
        }
        engine.shutdown()
    }

    /// Runs the requests (see `runAll`) and the engine's counters around them.
    private func measure(
        _ engine: Engine, texts: [String], total: Int, concurrency: Int, speculativeTokens: Int
    ) throws -> Run {
        let before = engine.metrics()
        let start = DispatchTime.now()
        let outputs = try runAll(engine, texts: texts, total: total, concurrency: concurrency, speculativeTokens: speculativeTokens)
        let elapsed = seconds(since: start)
        let after = engine.metrics()
        return Run(
            outputs: outputs, seconds: elapsed, steps: after.steps - before.steps,
            proposed: after.speculation.proposedTokens - before.speculation.proposedTokens,
            accepted: after.speculation.acceptedTokens - before.speculation.acceptedTokens,
            tokenCost: after.speculation.verificationTokenCost)
    }

    /// Runs `total` greedy requests over `texts` (cycled), `concurrency` at a time; returns
    /// each request's generated token ids and decode time, in request order.
    private func runAll(
        _ engine: Engine, texts: [String], total: Int, concurrency: Int, speculativeTokens: Int
    ) throws -> [Outcome] {
        let slots = DispatchSemaphore(value: concurrency)
        let done = DispatchGroup()
        let results = ResultBox(count: total)
        for i in 0..<total {
            slots.wait()
            var request = Request(id: "s\(i)", prompt: .text(texts[i % texts.count]))
            request.sampling.temperature = 0
            request.stop.maxTokens = genTokens
            request.speculativeTokens = speculativeTokens
            done.enter()
            try engine.submit(request) { event in
                if case .completed(let output) = event {
                    let m = output.metrics
                    results.set(i, Outcome(
                        prompt: output.promptTokenIDs, tokens: output.samples.first?.tokenIDs ?? [],
                        decodeSeconds: m.endToEndLatency - m.timeToFirstToken))
                    slots.signal()
                    done.leave()
                }
            }
        }
        done.wait()
        return results.values
    }
}

/// The requests of one mode: outputs, wall seconds and the engine's counters.
private struct Run {
    var outputs: [Outcome] = []
    var seconds = 0.0
    var steps = 0
    var proposed = 0
    var accepted = 0
    /// The engine's measured share of a one-token step that one more token costs, when the
    /// run ended (`VerificationCostModel.cost`: what its proposal lengths were weighed against).
    var tokenCost = 0.0
    var identical = true

    mutating func add(_ other: Run) {
        outputs += other.outputs
        seconds += other.seconds
        steps += other.steps
        proposed += other.proposed
        accepted += other.accepted
        tokenCost = other.tokenCost
    }

    var generated: Int { outputs.reduce(0) { $0 + $1.tokens.count } }
    var rate: Double { Double(generated) / seconds }

    /// One JSON line. Decode-only rate (what llama-lookup reports): tokens after each
    /// request's first over the time from its first token to its end, summed. `roundRatios`,
    /// when given, is written as "round_ratios".
    func line(streams: Int, mode: String, roundRatios: [Double]? = nil) -> String {
        let decodeTokens = outputs.reduce(0) { $0 + max(0, $1.tokens.count - 1) }
        let decodeSeconds = outputs.reduce(0.0) { $0 + $1.decodeSeconds }
        let acceptance = proposed == 0 ? 0 : Double(accepted) / Double(proposed)
        return #"{"streams": \#(streams), "mode": "\#(mode)", "requests": \#(outputs.count), "seconds": \#(seconds), "generated_tokens": \#(generated), "gen_tokens_per_s": \#(rate), "decode_tokens_per_s": \#(Double(decodeTokens) / decodeSeconds), "steps": \#(steps), "proposed": \#(proposed), "accepted": \#(accepted), "acceptance": \#(acceptance), "token_cost": \#(tokenCost), "identical_to_off": \#(identical)\#(roundRatios.map { #", "round_ratios": \#($0)"# } ?? "")}"#
    }
}

/// One request's prompt ids as run, its generated tokens, and the seconds from its first
/// token to its end.
private struct Outcome: Sendable {
    var prompt: [Int32] = []
    var tokens: [Int32] = []
    var decodeSeconds = 0.0
}

/// Per-request outputs written from the engine thread, read after all completed.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Outcome]
    init(count: Int) { stored = Array(repeating: Outcome(), count: count) }
    func set(_ i: Int, _ outcome: Outcome) { lock.withLock { stored[i] = outcome } }
    var values: [Outcome] { lock.withLock { stored } }
}
