import ArgumentParser
import CanopyClient
import Foundation

/// `canopy health`: whether the daemon takes requests; the exit status says it too, so
/// scripts and probes can wait on it.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Show whether canopyd takes requests.",
        discussion: "Exits 0 when serving, 1 when draining or unreachable.")

    @ParentCommand var root: Canopy

    @Flag(help: "Print {\"status\": ..., \"uptime_seconds\": ...} as JSON.")
    var json = false

    @Option(help: "Instead of the status, time N Health calls over one connection (after 20 warm-up calls) and print the round trip's p50/p99 in µs.")
    var `repeat`: Int?

    func validate() throws {
        if let count = `repeat`, count < 1 { throw ValidationError("--repeat must be at least 1, got \(count)") }
    }

    func run() async throws {
        var serving = false
        try await root.client.withDaemon { client in
            let health = try await client.health()
            serving = health.status == .serving
            if let count = `repeat` {
                try await Self.timeRoundTrips(client, count: count, json: json)
                return
            }
            var status = Self.name(health.status)
            if !health.reason.isEmpty { status += ": " + health.reason }
            if json {
                try JSONOutput.print(HealthJSON(status: status, uptime_seconds: health.uptimeSeconds))
            } else {
                FileHandle.standardOutput.write(Data("\(status) (uptime \(Format.duration(health.uptimeSeconds)))\n".utf8))
            }
        }
        if !serving { throw ExitCode.failure }
    }

    /// Times `count` Health calls one after another (the connection already warm) and
    /// prints their round trip's percentiles: the cost of a call through the client library,
    /// gRPC and the socket, with no engine work behind it.
    private static func timeRoundTrips(_ client: CanopyClient, count: Int, json: Bool) async throws {
        for _ in 0..<20 { _ = try await client.health() }
        var samples: [Double] = []
        samples.reserveCapacity(count)
        let clock = ContinuousClock()
        for _ in 0..<count {
            let start = clock.now
            _ = try await client.health()
            samples.append(Double((clock.now - start) / .nanoseconds(1)) / 1e3)
        }
        let stats = LatencyStats(samples)
        if json {
            try JSONOutput.print(RoundTripJSON(calls: count, p50_us: stats.p50, p99_us: stats.p99, mean_us: stats.mean))
        } else {
            FileHandle.standardOutput.write(Data(String(
                format: "health round trip over %d calls: p50 %.0f µs, p99 %.0f µs, mean %.0f µs\n",
                count, stats.p50, stats.p99, stats.mean).utf8))
        }
    }

    /// The status as the proto spells it, lower-cased.
    static func name(_ status: CanopyV1.ServingStatus) -> String {
        switch status {
        case .serving: return "serving"
        case .draining: return "draining"
        case .notServing: return "not serving"
        case .unspecified: return "unknown"
        }
    }
}

/// The `health --json` output.
private struct HealthJSON: Encodable {
    let status: String
    let uptime_seconds: Double
}

/// The `health --repeat N --json` timing line.
private struct RoundTripJSON: Encodable {
    let calls: Int
    let p50_us: Double
    let p99_us: Double
    let mean_us: Double
}
