import ArgumentParser
import CanopyEngine
import CanopyModel
import Foundation

/// `canopy perplexity`: a model's perplexity on a text file, computed like llama.cpp's
/// `llama-perplexity` (see `PerplexityEvaluator`), so that a model or a quantization can be
/// compared with the number llama.cpp users quote. In-process, like `batch`.
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Measure a model's perplexity on a text file, as llama-perplexity does.",
        discussion: """
            The text is tokenized whole and cut into non-overlapping chunks of --ctx tokens; \
            each chunk runs from position 0 (its first token replaced by BOS when the model \
            adds one) and the tokens of its second half are scored. A progress line per chunk \
            goes to stderr; stdout gets llama-perplexity's running estimates \
            ([1]x,[2]y,...) and `Final estimate: PPL = X +/- Y`, or one JSON object with --json.
            """)

    @Option(help: "Path of the GGUF model file.")
    var model: String

    @Option(help: "Path of the text file (UTF-8) to score.")
    var file: String

    @Option(help: "Tokens per chunk (llama-perplexity's -c).")
    var ctx: Int = PerplexityEvaluator.defaultContext

    @Option(help: "Most chunks to score (llama-perplexity's --chunks). Default: every whole chunk of the text.")
    var chunks: Int?

    @Flag(help: "Write one JSON object to stdout instead of the text summary.")
    var json = false

    @OptionGroup var kernelOptions: KernelOptions

    func validate() throws {
        guard ctx >= PerplexityEvaluator.minimumContext else {
            throw ValidationError("--ctx must be at least \(PerplexityEvaluator.minimumContext), got \(ctx)")
        }
        if let chunks, chunks < 1 { throw ValidationError("--chunks must be at least 1, got \(chunks)") }
    }

    func run() throws {
        try Self.reportingFailures(measure)
    }

    private func measure() throws {
        kernelOptions.configureThreads()
        // The text first: a missing file should not cost a model load.
        let text: String
        do {
            text = try PerplexityEvaluator.readText(path: file)
        } catch {
            throw CommandFailure(error.description)
        }
        let loaded: LoadedModel
        do {
            loaded = try LoadedModel(path: model)
        } catch {
            throw CommandFailure("\(error)")
        }
        let evaluator = PerplexityEvaluator(loaded: loaded)
        let tokens = evaluator.tokenize(text)
        let result: PerplexityResult
        do {
            let count = try evaluator.chunkCount(tokenCount: tokens.count, context: ctx, maxChunks: chunks)
            let scored = ctx - ctx / 2 - 1
            status("perplexity: \(tokens.count) tokens; \(count) chunks of \(ctx), scoring the last \(scored) tokens of each")
            result = try evaluator.evaluate(tokens: tokens, context: ctx, maxChunks: chunks) { report in
                status(Self.progressLine(report, context: ctx))
            }
        } catch {
            throw CommandFailure(error.description)
        }
        if json {
            try printJSON(result, loaded: loaded)
        } else {
            printSummary(result)
        }
    }

    /// `[3/16] PPL 9.6677 +/- 0.81234 (chunk 7.1200), 1.25 s, 410 tokens/s`
    static func progressLine(_ report: PerplexityChunkReport, context: Int) -> String {
        let running = report.runningEstimate
        let rate = report.seconds > 0 ? Double(context) / report.seconds : 0
        return "[\(report.chunk)/\(report.chunkCount)] PPL \(Format.number(running.perplexity, digits: 4))"
            + (running.uncertainty.map { " +/- " + Format.number($0, digits: 5) } ?? "")
            + " (chunk \(Format.number(report.chunkEstimate.perplexity, digits: 4))), "
            + "\(Format.number(report.seconds, digits: 2)) s, \(Format.number(rate, digits: 0)) tokens/s"
    }

    private func printSummary(_ result: PerplexityResult) {
        let running = result.chunks.map { "[\($0.chunk)]\(Format.number($0.runningEstimate.perplexity, digits: 4))," }
        var lines = [running.joined()]
        if let uncertainty = result.uncertainty {
            lines.append("Final estimate: PPL = \(Format.number(result.perplexity, digits: 4)) +/- \(Format.number(uncertainty, digits: 5))")
        } else {
            lines.append("Final estimate: PPL = \(Format.number(result.perplexity, digits: 4)) (no uncertainty: the scored tokens' log-probabilities do not vary)")
        }
        lines.append("\(result.chunks.count) chunks of \(result.context) tokens, \(result.estimate.count) scored, "
            + "\(result.evaluatedTokens) evaluated in \(Format.number(result.seconds, digits: 2)) s "
            + "(\(Format.number(result.tokensPerSecond, digits: 1)) tokens/s)")
        print(lines.joined(separator: "\n"))
    }

    /// The machine-readable result (what `bench/run-perplexity-bench.sh` reads).
    private struct Output: Encodable {
        let model: String
        let file: String
        let ctx: Int
        let chunks: Int
        let text_tokens: Int
        let scored_tokens: Int
        let evaluated_tokens: Int
        let ppl: Double
        let ppl_uncertainty: Double?
        /// The running estimate after each chunk, as llama-perplexity's `[n]` values.
        let running_ppl: [Double]
        let seconds: Double
        let tokens_per_second: Double
    }

    private func printJSON(_ result: PerplexityResult, loaded: LoadedModel) throws {
        let output = Output(
            model: model, file: file, ctx: result.context, chunks: result.chunks.count, text_tokens: result.textTokens,
            scored_tokens: result.estimate.count, evaluated_tokens: result.evaluatedTokens, ppl: result.perplexity,
            ppl_uncertainty: result.uncertainty, running_ppl: result.chunks.map(\.runningEstimate.perplexity),
            seconds: result.seconds, tokens_per_second: result.tokensPerSecond)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(output), as: UTF8.self))
    }

    private func status(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
