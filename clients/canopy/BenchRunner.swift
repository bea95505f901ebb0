import CanopyClient
import CanopyKernels
import CanopyWire

/// What the client saw of one benchmark request.
struct RequestTrace: Sendable {
    /// Seconds from sending the request to its first token; nil when none arrived.
    var timeToFirstToken: Double?
    /// Seconds between consecutive token events.
    var interTokenGaps: [Double] = []
    /// Seconds from sending the request to its summary.
    var endToEnd: Double = 0
    /// Prompt tokens the server counted.
    var promptTokens = 0
    /// Tokens the server generated.
    var outputTokens = 0
    /// Why the request failed, if it did.
    var error: String?
}

/// Sends benchmark requests with a fixed number in flight and times their token streams.
enum BenchRunner {
    /// Runs `requests` keeping `concurrency` of them in flight; returns one trace per
    /// request in completion order. Failures are recorded in the traces, not thrown.
    static func run(_ requests: [CanopyV1.GenerateRequest], concurrency: Int, client: CanopyClient) async -> [RequestTrace] {
        await run(count: requests.count, concurrency: concurrency) { index in await one(requests[index], client: client) }
    }

    /// Runs requests `0..<count` through `send`, keeping `concurrency` in flight; returns the
    /// traces in completion order.
    static func run(
        count: Int, concurrency: Int, send: @escaping @Sendable (Int) async -> RequestTrace
    ) async -> [RequestTrace] {
        await withTaskGroup(of: RequestTrace.self) { group in
            var next = 0
            var traces: [RequestTrace] = []
            traces.reserveCapacity(count)
            while next < min(concurrency, count) {
                let index = next
                group.addTask { await send(index) }
                next += 1
            }
            while let trace = await group.next() {
                traces.append(trace)
                if next < count {
                    let index = next
                    group.addTask { await send(index) }
                    next += 1
                }
            }
            return traces
        }
    }

    /// Sends one request and times it.
    private static func one(_ request: CanopyV1.GenerateRequest, client: CanopyClient) async -> RequestTrace {
        let arrivals = TokenArrivals()
        let start = ContinuousClock.now
        var trace = RequestTrace()
        do {
            let summary = try await client.generate(request) { event in
                if case .token = event { arrivals.record() }
            }
            trace.endToEnd = seconds(ContinuousClock.now - start)
            trace.promptTokens = Int(summary.usage.promptTokens)
            trace.outputTokens = Int(summary.usage.completionTokens)
        } catch {
            trace.error = DaemonErrorMessage.describe(error, socket: "the daemon")
            return trace
        }
        let times = arrivals.times
        if let first = times.first { trace.timeToFirstToken = seconds(first - start) }
        trace.interTokenGaps = zip(times.dropFirst(), times).map { seconds($0 - $1) }
        return trace
    }

    /// A duration in seconds.
    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}

/// Arrival times of one request's token events, appended from the event callback.
private final class TokenArrivals: Sendable {
    private let storage = Locked<[ContinuousClock.Instant]>([])

    /// Notes that a token arrived now.
    func record() {
        let now = ContinuousClock.now
        storage.withLock { $0.append(now) }
    }

    /// The arrival times so far, in order.
    var times: [ContinuousClock.Instant] {
        storage.withLock { $0 }
    }
}
