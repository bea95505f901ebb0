import CanopyEngine
import CanopyKernels
import Foundation
import Logging

/// Every setting of `canopyd`, from defaults, a configuration file and command-line flags.
///
/// Precedence is flags > file > defaults. The file (by default `/etc/canopy/canopyd.conf`)
/// uses the same names as the flags without the leading dashes, one `key = value` per line
/// (see `ConfigFileParser` for the syntax and `DaemonConfig.keys` for the settings).
public struct DaemonConfig: Sendable, Equatable {
    /// The GGUF model to serve (`model`). Required.
    public var modelPath: String?
    /// The GGUF draft model that proposes speculative tokens (`draft-model`), or nil. Set it
    /// with `setDraftModel(_:)`, which also decides the speculative mode's default.
    public internal(set) var draftModelPath: String?
    /// The Unix socket to listen on (`socket`); `nil` derives it (`SocketPathResolver`).
    public var socketPath: String?
    /// The engine's memory and batching settings.
    public var engine = EngineConfig()
    /// Worker threads for the numeric kernels (`threads`); 0 means one per core.
    public var threads: Int = 0
    /// How long running requests may take to finish after SIGTERM (`grace-period`).
    public var gracePeriod: Duration = .seconds(30)
    /// Processes each layer is split across (`tensor-parallel`); with `pipelineParallel`,
    /// the MPI job has their product of processes; both 1: no MPI.
    public var tensorParallel: Int = 1
    /// Pipeline stages the blocks are split into (`pipeline-parallel`).
    public var pipelineParallel: Int = 1
    /// How long a rank waits for another inside a pass before it declares it lost
    /// (`parallel-timeout`).
    public var parallelTimeout: Duration = .seconds(10)
    /// Peer uids allowed to connect (`allowed-uids`); empty with `allowedGIDs` empty allows all.
    public var allowedUIDs: [uid_t] = []
    /// Peer gids allowed to connect (`allowed-gids`).
    public var allowedGIDs: [gid_t] = []
    /// The least severe level logged to stderr (`log-level`).
    public var logLevel: Logger.Level = .info
    /// Where the OpenAI-compatible HTTP API listens on TCP (`http`); nil leaves it off.
    public var httpAddress: HTTPListenAddress?
    /// The Unix socket the HTTP API listens on (`http-socket`); nil leaves it off.
    public var httpSocketPath: String?
    /// A file whose first line is the bearer token HTTP clients must send (`http-token-file`).
    public var httpTokenFile: String?
    /// Where each setting given explicitly came from, by key (`speculative`, ...); settings
    /// left at their defaults are absent. Rules that depend on whether the user chose a
    /// value (see `setDraftModel(_:)`) and errors that point at the line to fix read it.
    public private(set) var sources: [String: ConfigSource] = [:]

    /// Where the packaged service reads its configuration.
    public static let defaultConfigPath = "/etc/canopy/canopyd.conf"

    /// The defaults.
    public init() {}

    /// Loads defaults, then the file at `configFile` (if any), then `flags` (keys as in
    /// `keys`, e.g. `("kv-cache-memory", "1G")`), and validates the result.
    ///
    /// - Parameter configFileRequired: when `false`, a missing `configFile` is treated as
    ///   empty, so the packaged default path may be absent; an explicit `--config` should pass
    ///   `true`.
    public static func load(
        configFile: String?, configFileRequired: Bool = true, flags: [(key: String, value: String)] = []
    ) throws(DaemonConfigError) -> DaemonConfig {
        var config = DaemonConfig()
        if let configFile {
            let absent = !configFileRequired && access(configFile, F_OK) != 0 && errno == ENOENT
            let entries = absent ? [] : try ConfigFileParser.parse(fileAt: configFile)
            for entry in entries {
                try config.set(entry.key, to: entry.value, from: .file(path: configFile, line: entry.line))
            }
        }
        for flag in flags {
            try config.set(flag.key, to: flag.value, from: .flag)
        }
        try config.validate()
        return config
    }

    /// Sets one setting from its textual form, as read from `source`.
    public mutating func set(_ key: String, to value: String, from source: ConfigSource) throws(DaemonConfigError) {
        guard let setting = Self.keys.first(where: { $0.name == key }) else {
            throw .unknownKey(source: source, key: key, suggestion: Self.closestKey(to: key))
        }
        guard setting.apply(&self, value) else {
            throw .invalidValue(source: source, key: key, value: value, expected: setting.expected)
        }
        sources[key] = source
    }

    /// Checks that a model is configured, that the engine limits are in range and that the
    /// speculative mode and the draft model go together (`validateSpeculation()`).
    public func validate() throws(DaemonConfigError) {
        guard let modelPath, !modelPath.isEmpty else { throw .missingModel }
        try validateSpeculation()
        do {
            try engine.validate()
        } catch {
            throw .inconsistent(error.description)
        }
    }

    /// The configuration handed to `Engine.init`.
    public var engineConfig: EngineConfig { engine }

    /// The access policy built from the allow-lists.
    public var accessPolicy: AccessPolicy { AccessPolicy(allowedUIDs: Set(allowedUIDs), allowedGIDs: Set(allowedGIDs)) }

    private static func closestKey(to key: String) -> String? {
        let scored = keys.map { ($0.name, editDistance($0.name, key)) }.min { $0.1 < $1.1 }
        guard let (name, distance) = scored, distance <= max(2, key.count / 3) else { return nil }
        return name
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
