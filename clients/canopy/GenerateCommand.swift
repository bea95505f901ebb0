import ArgumentParser
import CanopyWire
import Foundation

/// `canopy generate`: one generation on the daemon, streamed to stdout as it is produced.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with canopyd, streaming it to stdout.",
        discussion: """
            The prompt is the argument, else stdin (one trailing newline removed), else \
            --prompt-ids. With --chat the prompt is one user message rendered with the model's \
            chat template. With -n above 1 the samples are printed one after another once all \
            have finished. --json prints only the final summary, as one JSON line. With an APAR \
            model whose answer forks, the answer assembled from its branches is shown as it \
            grows (redrawn after the first fork on a terminal; the rest printed at the end \
            otherwise); --branches prints each branch's stream instead, one "[branch N]" \
            line per switch.
            """)

    @ParentCommand var root: Canopy

    @Argument(help: "The prompt text (default: read stdin).")
    var prompt: String?

    @Option(help: "Prompt token ids instead of text, comma- or space-separated.")
    var promptIds: String?

    @Flag(help: "Send the prompt as a user chat message (the server applies the chat template).")
    var chat = false

    @Option(help: "With --chat: a system message sent before the prompt.")
    var system: String?

    @OptionGroup(title: "Sampling") var sampling: SamplingOptions

    @Flag(name: .shortAndLong, help: "Print finish reason, token counts and timings to stderr.")
    var verbose = false

    @Flag(help: "Print the final summary as JSON instead of streaming text.")
    var json = false

    @Flag(help: "APAR models: print each branch's tokens as they come, marked by branch, instead of the assembled answer.")
    var branches = false

    func run() async throws {
        try await root.client.withDaemon { client in
            let request = sampling.request(try input())
            let streaming = !json && (sampling.samples ?? 1) == 1
            let printer = AnswerPrinter(byBranch: branches, terminal: isatty(STDOUT_FILENO) == 1)
            let summary = try await client.generate(request) { event in
                guard streaming, case .token(let delta) = event else { return }
                printer.add(delta)
            }
            if json {
                try JSONOutput.print(SummaryJSON(summary))
                return
            }
            if streaming { printer.finish(summary.samples.first?.text ?? "") } else { printSamples(summary) }
            if isatty(STDOUT_FILENO) == 1 { FileHandle.standardOutput.write(Data("\n".utf8)) }
            if verbose { FileHandle.standardError.write(Data(Self.report(summary).utf8)) }
        }
    }

    /// The request input from the flags and, when needed, stdin.
    private func input() throws -> CanopyV1.GenerateRequest.Input {
        if let promptIds {
            guard prompt == nil, !chat else {
                throw CommandFailure("--prompt-ids cannot be combined with a text prompt or --chat")
            }
            return .promptIDs(try Self.parseIDs(promptIds, what: "--prompt-ids"))
        }
        let text = try prompt ?? Self.readStdin()
        guard chat else { return .prompt(text) }
        var messages: [CanopyV1.ChatMessage] = []
        if let system { messages.append(.init(role: "system", content: system)) }
        messages.append(.init(role: "user", content: text))
        return .messages(messages)
    }

    /// All of stdin, without one trailing newline (as `echo` adds).
    private static func readStdin() throws -> String {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        guard var text = String(data: data, encoding: .utf8) else {
            throw CommandFailure("stdin is not valid UTF-8 text")
        }
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// Parses `1,2,3` or `1 2 3` into token ids; `what` names the input in the error.
    static func parseIDs(_ text: String, what: String) throws -> [Int32] {
        let parts = text.split(whereSeparator: { $0 == "," || $0.isWhitespace })
        return try parts.map { part in
            guard let id = Int32(part) else {
                throw CommandFailure("\(what): '\(part)' is not a token id (expected integers like 1,2,3)")
            }
            return id
        }
    }

    /// Prints every sample of a multi-sample generation under a header line.
    private func printSamples(_ summary: CanopyV1.GenerateSummary) {
        var out = ""
        for sample in summary.samples {
            out += "--- sample \(sample.index) (\(SummaryJSON.name(sample.finishReason))) ---\n\(sample.text)\n"
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }

    /// The `--verbose` report: finish reasons, usage, timings and any log-probabilities.
    static func report(_ summary: CanopyV1.GenerateSummary) -> String {
        let u = summary.usage
        let t = summary.timings
        let reasons = summary.samples.map { SummaryJSON.name($0.finishReason) }.joined(separator: ",")
        var out = "finish: \(reasons)\n"
        out += "usage: prompt \(u.promptTokens) tokens (\(u.cachedPromptTokens) cached), "
        out += "completion \(u.completionTokens) tokens, preemptions \(u.preemptions)\n"
        out += "timings: queue \(Format.ms(t.queueSeconds)), ttft \(Format.ms(t.timeToFirstTokenSeconds)), "
        out += "itl \(Format.ms(t.meanInterTokenLatencySeconds)), e2e \(Format.ms(t.endToEndSeconds))"
        if t.endToEndSeconds > t.timeToFirstTokenSeconds, u.completionTokens > 1 {
            let rate = Double(u.completionTokens - 1) / (t.endToEndSeconds - t.timeToFirstTokenSeconds)
            out += ", \(Format.number(rate, digits: 1)) tokens/s"
        }
        out += "\nrequest: \(summary.requestID)\n"
        for sample in summary.samples where !sample.logprobs.isEmpty {
            out += "logprobs of sample \(sample.index) (id: logprob [top alternatives]):\n"
            for token in sample.logprobs {
                let top = token.topLogprobs.map { "\($0.id):\(Format.number(Double($0.logprob), digits: 3))" }
                let own = token.logprob.map { Format.number(Double($0), digits: 3) } ?? "-"
                out += "  \(token.id): \(own)" + (top.isEmpty ? "" : " [\(top.joined(separator: " "))]") + "\n"
            }
        }
        return out
    }
}
