import ArgumentParser
import CanopyRPC
import Foundation

/// `canopy bench`: a load generator in the manner of vLLM's serving benchmark. It keeps
/// `concurrency` streams busy until `requests` requests have finished, each with a prompt
/// of exactly `prompt-tokens` ids and `ignore_eos` so it generates exactly `max-tokens`.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure canopyd's serving throughput and latency under concurrent streams.",
        discussion: """
            Reports duration, requests/s, output and total tokens/s, and mean/p50/p90/p99 of \
            time to first token (TTFT), time per output token after the first (TPOT, per \
            request), inter-token latency (ITL, every gap between streamed tokens) and \
            end-to-end latency (E2E), measured at the client. Random prompts draw their ids \
            from a built-in English text, so each differs and prefix caching does not help; \
            fixed prompts are all the same text. Exits 1 if any request failed.
            """)

    /// How prompts are made.
    enum PromptKind: String, ExpressibleByArgument, CaseIterable, Sendable {
        case random, fixed
    }

    @ParentCommand var root: Canopy

    @Option(help: "Requests to send in all.")
    var requests = 32

    @Option(help: "Requests in flight at once.")
    var concurrency = 8

    @Option(help: "Prompt length of each request in tokens.")
    var promptTokens = 128

    @Option(help: "Tokens each request generates (end-of-generation is ignored).")
    var maxTokens = 64

    @Option(help: "Prompts: random (a different one per request) or fixed (all the same).")
    var prompt: PromptKind = .random

    @Option(help: "Seed for random prompts and sampling.")
    var seed: UInt64 = 0

    @Option(help: "Sampling temperature (0 is greedy).")
    var temperature: Float = 0

    @Flag(help: "Print the results as one JSON object.")
    var json = false

    func validate() throws {
        guard requests >= 1 else { throw ValidationError("--requests must be at least 1") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard promptTokens >= 1 else { throw ValidationError("--prompt-tokens must be at least 1") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    }

    func run() async throws {
        var anyFailed = false
        try await root.client.withDaemon { client in
            let corpus = try await client.tokenize(.init(text: BenchPrompts.corpus)).ids
            guard !corpus.isEmpty else { throw CommandFailure("the server's tokenizer returned no ids for the benchmark text") }
            let prompts = BenchPrompts.make(
                count: requests, length: promptTokens, from: corpus, random: prompt == .random, seed: seed)
            let requestsToSend = prompts.enumerated().map { index, ids in
                var sampling = CanopyV1.SamplingParams()
                sampling.temperature = temperature
                sampling.seed = seed &+ UInt64(index)
                var stop = CanopyV1.StopParams()
                stop.maxTokens = Int32(clamping: maxTokens)
                stop.ignoreEOS = true
                return CanopyV1.GenerateRequest(
                    requestID: "bench-\(index)", input: .promptIDs(ids), sampling: sampling, stop: stop)
            }
            let started = ContinuousClock.now
            let traces = await BenchRunner.run(requestsToSend, concurrency: concurrency, client: client)
            let duration = BenchRunner.seconds(ContinuousClock.now - started)
            let result = BenchResult(
                traces: traces, duration: duration, concurrency: concurrency, promptTokens: promptTokens,
                maxTokens: maxTokens, promptKind: prompt.rawValue)
            guard result.completed > 0 else {
                throw CommandFailure("every request failed; the first: \(result.errors.first ?? "unknown error")")
            }
            anyFailed = result.failed > 0
            if json {
                try JSONOutput.print(result)
            } else {
                FileHandle.standardOutput.write(Data(result.render().utf8))
            }
        }
        if anyFailed { throw ExitCode.failure }
    }
}
