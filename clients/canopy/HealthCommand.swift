import ArgumentParser
import CanopyWire
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

    func run() async throws {
        var serving = false
        try await root.client.withDaemon { client in
            let health = try await client.health()
            serving = health.status == .serving
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
