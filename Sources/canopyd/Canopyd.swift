import ArgumentParser
import CanopyDaemon
import CanopyEngine
import CanopyModel
import CanopyRPC
import Foundation
import Logging

/// `canopyd`: the Canopy daemon. Loads one model, starts the serving engine, and serves the
/// `canopy.v1.Canopy` gRPC service on a Unix socket until SIGTERM drains it.
@main
struct Canopyd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canopyd",
        abstract: "Serve an LLM over gRPC on a Unix socket.",
        discussion: """
            Settings come from flags, then the config file (key = value lines, keys named like \
            the flags; default \(DaemonConfig.defaultConfigPath), optional), then defaults. \
            Under systemd the socket goes to $RUNTIME_DIRECTORY, otherwise to \
            $XDG_RUNTIME_DIR/canopy/; with LISTEN_FDS the inherited socket is served.
            """)

    @Option(help: "Config file (key = value lines); an explicit path must exist.")
    var config: String?
    @Option(help: "GGUF model file to serve.") var model: String?
    @Option(help: "Unix socket path.") var socket: String?
    @Option(help: "KV cache size (e.g. 512M, 2G).") var kvCacheMemory: String?
    @Option(help: "Token positions per KV block.") var blockSize: String?
    @Option(help: "KV cache element type: f32, f16, q8.") var kvPrecision: String?
    @Option(help: "Reuse cached prompt prefixes: yes or no.") var prefixCaching: String?
    @Option(help: "Most tokens per engine step.") var maxBatchedTokens: String?
    @Option(help: "Most a step's prefill may slow the decodes beside it, x their time alone (default \(EngineConfig().maxDecodeStall); 0 = off).")
    var maxDecodeStall: String?
    @Option(help: "Most sequences running at once.") var maxSeqs: String?
    @Option(help: "Most requests waiting before new ones are refused.") var maxWaiting: String?
    @Option(help: "max_tokens for requests that set none.") var defaultMaxTokens: String?
    @Option(help: "Events a client may leave unread before its generation pauses.") var maxBufferedEvents: String?
    @Option(help: "Cancel a paused generation whose client reads nothing for this long (e.g. 60s; 'none').")
    var stalledReaderTimeout: String?
    @Option(help: "MoE models: bytes of experts kept in memory (e.g. 512M; 'none' maps all).") var expertCache: String?
    @Option(help: "Bytes of the model file kept in memory; other layers stream from the file (e.g. 512M; 'none').")
    var weightMemory: String?
    @Option(help: "Bytes of the KV swap file for preempted sequences and evicted prefix blocks (e.g. 2G; 0 = off).")
    var kvSwapSpace: String?
    @Option(help: "Text of an APAR model's fork token (default [SplitMask]).") var aparForkToken: String?
    @Option(help: "Text of an APAR model's child token (default [SplitSop]).") var aparChildToken: String?
    @Option(help: "Speculative decoding: \(DaemonConfig.speculativeModes) (default \(EngineConfig().speculative.rawValue), or \(SpeculativeMode.draft.rawValue) with --draft-model); greedy output is the same either way.")
    var speculative: String?
    @Option(help: "GGUF draft model with the served model's tokenizer that proposes speculative tokens (default none).")
    var draftModel: String?
    @Option(help: "Most proposed tokens a sequence verifies per step, \(SpeculativeMode.tokenRange.lowerBound)...\(SpeculativeMode.tokenRange.upperBound) (default \(EngineConfig().speculativeTokens)).")
    var specTokens: String?
    @Option(help: "Most decode tokens, proposals included, in a step that speculates (default \(EngineConfig().speculativeStepTokens); 0 = off).")
    var specStepTokens: String?
    @Option(help: "What the draft's work for one proposal costs, as a share of a decode step of the model (default \(EngineConfig().speculativeDraftCost.map { "\($0)" } ?? "auto"): the draft's file size over the model's).")
    var specDraftCost: String?
    @Option(help: "Worker threads (0 = all cores).") var threads: String?
    @Option(help: "Seconds running requests get to finish after SIGTERM.") var gracePeriod: String?
    @Option(help: "Split the model across N processes: mpirun -np N canopyd --tensor-parallel N (default 1: no MPI).")
    var tensorParallel: String?
    @Option(help: "Split the model's blocks into M pipeline stages: mpirun -np N×M canopyd --tensor-parallel N --pipeline-parallel M (default 1).")
    var pipelineParallel: String?
    @Option(help: "How long a rank waits for another inside a step before the job ends (default 10s).")
    var parallelTimeout: String?
    @Option(help: "Comma-separated uids/users served; other peers get PERMISSION_DENIED (empty = all).")
    var allowedUids: String?
    @Option(help: "Comma-separated primary gids/groups served (empty = all).") var allowedGids: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String?
    @Option(help: "Serve the OpenAI-compatible HTTP API on HOST:PORT (PORT alone: loopback); off by default.") var http: String?
    @Option(help: "Serve the OpenAI-compatible HTTP API on this Unix socket.") var httpSocket: String?
    @Option(help: "File holding the bearer token HTTP clients must send.") var httpTokenFile: String?

    /// The flags that were given, as config keys.
    private var flags: [(key: String, value: String)] {
        let all: [(String, String?)] = [
            ("model", model), ("socket", socket), ("kv-cache-memory", kvCacheMemory), ("block-size", blockSize),
            ("kv-precision", kvPrecision), ("prefix-caching", prefixCaching), ("max-batched-tokens", maxBatchedTokens),
            ("max-decode-stall", maxDecodeStall), ("max-seqs", maxSeqs), ("max-waiting", maxWaiting), ("default-max-tokens", defaultMaxTokens),
            ("max-buffered-events", maxBufferedEvents), ("stalled-reader-timeout", stalledReaderTimeout),
            ("expert-cache", expertCache), ("weight-memory", weightMemory),
            ("kv-swap-space", kvSwapSpace), ("apar-fork-token", aparForkToken), ("apar-child-token", aparChildToken),
            ("speculative", speculative), ("draft-model", draftModel), ("spec-tokens", specTokens),
            ("spec-step-tokens", specStepTokens), ("spec-draft-cost", specDraftCost),
            ("threads", threads), ("grace-period", gracePeriod), ("tensor-parallel", tensorParallel),
            ("pipeline-parallel", pipelineParallel), ("parallel-timeout", parallelTimeout), ("allowed-uids", allowedUids),
            ("allowed-gids", allowedGids), ("log-level", logLevel), ("http", http), ("http-socket", httpSocket),
            ("http-token-file", httpTokenFile),
        ]
        return all.compactMap { key, value in value.map { (key: key, value: $0) } }
    }

    func run() async throws {
        let settings: DaemonConfig
        do {
            settings = try DaemonConfig.load(
                configFile: config ?? DaemonConfig.defaultConfigPath, configFileRequired: config != nil, flags: flags)
        } catch {
            throw Self.fail("\(error)")
        }
        StderrLogHandler.bootstrap(level: settings.logLevel)
        let logger = Logger(label: "canopyd")
        do {
            try await Daemon(settings: settings, logger: logger).run()
        } catch let error as DaemonFailure {
            logger.critical("\(error.message)")
            throw ExitCode.failure
        }
    }

    static func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("canopyd: \(message)\n".utf8))
        return ExitCode.failure
    }
}

/// A startup failure, reported as one log line and exit status 1.
struct DaemonFailure: Error {
    let message: String
}
