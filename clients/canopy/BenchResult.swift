/// The figures of a benchmark run, printed as a table or (encoded) as JSON. Latencies in
/// the JSON are milliseconds; keys are stable for scripts.
struct BenchResult: Encodable {
    let requests: Int
    let completed: Int
    let failed: Int
    let concurrency: Int
    let prompt_tokens: Int
    let max_tokens: Int
    let prompt_kind: String
    let duration_s: Double
    let total_input_tokens: Int
    let total_output_tokens: Int
    /// Completed requests per second of wall time.
    let request_throughput: Double
    /// Generated tokens per second of wall time.
    let output_throughput: Double
    /// Prompt plus generated tokens per second of wall time.
    let total_token_throughput: Double
    let ttft_ms: ScaledLatencyStats
    /// Per request: (E2E − TTFT) / (output tokens − 1), for requests with two or more tokens.
    let tpot_ms: ScaledLatencyStats
    /// Every gap between consecutive streamed tokens of every request.
    let itl_ms: ScaledLatencyStats
    let e2e_ms: ScaledLatencyStats
    /// Distinct failure messages, at most five.
    let errors: [String]

    /// Summarises `traces` of a run that took `duration` seconds.
    init(traces: [RequestTrace], duration: Double, concurrency: Int, promptTokens: Int, maxTokens: Int, promptKind: String) {
        let ok = traces.filter { $0.error == nil }
        requests = traces.count
        completed = ok.count
        failed = traces.count - ok.count
        self.concurrency = concurrency
        prompt_tokens = promptTokens
        max_tokens = maxTokens
        prompt_kind = promptKind
        duration_s = duration
        total_input_tokens = ok.reduce(0) { $0 + $1.promptTokens }
        total_output_tokens = ok.reduce(0) { $0 + $1.outputTokens }
        let rate = { (count: Int) in duration > 0 ? Double(count) / duration : 0 }
        request_throughput = rate(completed)
        output_throughput = rate(total_output_tokens)
        total_token_throughput = rate(total_input_tokens + total_output_tokens)
        ttft_ms = LatencyStats(ok.compactMap(\.timeToFirstToken)).scaled(by: 1000)
        tpot_ms = LatencyStats(ok.compactMap { trace in
            guard let ttft = trace.timeToFirstToken, trace.outputTokens > 1 else { return nil }
            return (trace.endToEnd - ttft) / Double(trace.outputTokens - 1)
        }).scaled(by: 1000)
        itl_ms = LatencyStats(ok.flatMap(\.interTokenGaps)).scaled(by: 1000)
        e2e_ms = LatencyStats(ok.map(\.endToEnd)).scaled(by: 1000)
        var distinct: [String] = []
        for message in traces.compactMap(\.error) where !distinct.contains(message) && distinct.count < 5 {
            distinct.append(message)
        }
        errors = distinct
    }

    /// The human-readable report.
    func render() -> String {
        func n(_ value: Double, _ digits: Int = 2) -> String { Format.number(value, digits: digits) }
        var out = "requests:            \(completed) completed, \(failed) failed, concurrency \(concurrency)\n"
        out += "tokens per request:  \(prompt_tokens) prompt (\(prompt_kind)), \(max_tokens) generated\n"
        out += "duration:            \(n(duration_s)) s\n"
        out += "total tokens:        \(total_input_tokens) input, \(total_output_tokens) output\n"
        out += "request throughput:  \(n(request_throughput)) req/s\n"
        out += "output throughput:   \(n(output_throughput, 1)) tok/s\n"
        out += "total throughput:    \(n(total_token_throughput, 1)) tok/s\n\n"
        var table = TextTable(["latency (ms)", "mean", "p50", "p90", "p99", "max"])
        for (name, s) in [("TTFT", ttft_ms), ("TPOT", tpot_ms), ("ITL", itl_ms), ("E2E", e2e_ms)] {
            table.add([name, n(s.mean), n(s.p50), n(s.p90), n(s.p99), n(s.max)])
        }
        out += table.render()
        for message in errors { out += "error: \(message)\n" }
        return out
    }
}
