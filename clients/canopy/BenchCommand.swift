import ArgumentParser
import CanopyWire
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

    @Option(help: "Drive an OpenAI-compatible HTTP server instead of the socket: its base URL (canopyd --http, llama-server, vLLM), e.g. http://127.0.0.1:8080.")
    var http: String?

    @Option(help: "Bearer token for --http (default: $CANOPY_API_KEY, else $OPENAI_API_KEY, else none).")
    var apiKey: String?

    @Flag(help: "Print the results as one JSON object.")
    var json = false

    func validate() throws {
        guard requests >= 1 else { throw ValidationError("--requests must be at least 1") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard promptTokens >= 1 else { throw ValidationError("--prompt-tokens must be at least 1") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    }

    func run() async throws {
        if let http {
            try await runHTTP(http)
            return
        }
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
            anyFailed = try report(traces, duration: BenchRunner.seconds(ContinuousClock.now - started))
        }
        if anyFailed { throw ExitCode.failure }
    }

    /// The same load through an OpenAI-compatible HTTP server: prompts made from its own
    /// `/tokenize` ids, streamed `/v1/completions`.
    private func runHTTP(_ address: String) async throws {
        guard let url = URL(string: address) else {
            throw CommandFailure("--http wants a URL like http://127.0.0.1:8080, got \(address)")
        }
        let environment = ProcessInfo.processInfo.environment
        let key = apiKey ?? environment["CANOPY_API_KEY"] ?? environment["OPENAI_API_KEY"]
        let client = try HTTPBenchClient(base: url, apiKey: key)
        let corpus = try await client.tokenize(BenchPrompts.corpus)
        guard !corpus.isEmpty else { throw CommandFailure("\(address)/tokenize returned no ids for the benchmark text") }
        let prompts = BenchPrompts.make(count: requests, length: promptTokens, from: corpus, random: prompt == .random, seed: seed)
        let (maxTokens, temperature, seed) = (maxTokens, temperature, seed)
        let started = ContinuousClock.now
        let traces = await BenchRunner.run(count: prompts.count, concurrency: concurrency) { index in
            await client.complete(prompt: prompts[index], maxTokens: maxTokens, temperature: temperature, seed: seed &+ UInt64(index))
        }
        if try report(traces, duration: BenchRunner.seconds(ContinuousClock.now - started)) { throw ExitCode.failure }
    }

    /// Prints the figures of `traces`; returns whether any request failed. Throws when all did.
    private func report(_ traces: [RequestTrace], duration: Double) throws -> Bool {
        let result = BenchResult(
            traces: traces, duration: duration, concurrency: concurrency, promptTokens: promptTokens,
            maxTokens: maxTokens, promptKind: prompt.rawValue)
        guard result.completed > 0 else {
            throw CommandFailure("every request failed; the first: \(result.errors.first ?? "unknown error")")
        }
        if json {
            try JSONOutput.print(result)
        } else {
            FileHandle.standardOutput.write(Data(result.render().utf8))
        }
        return result.failed > 0
    }
}
