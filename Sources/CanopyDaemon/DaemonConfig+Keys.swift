import CanopyEngine
import CanopyKernels
import Foundation
import Logging

/// One named setting of `canopyd`: its file key (also the flag name, `--<name>`), help text
/// and the parser that applies a textual value.
public struct ConfigKey: Sendable {
    /// The key in the file and the flag name without dashes, e.g. `kv-cache-memory`.
    public let name: String
    /// One line describing the setting, suitable for `--help` and the example file.
    public let help: String
    /// What a valid value looks like; used in error messages.
    public let expected: String
    /// Applies `value`, returning `false` (and leaving the config unchanged) if it is invalid.
    let apply: @Sendable (inout DaemonConfig, String) -> Bool
}

extension DaemonConfig {
    /// Every recognised setting, in the order the example configuration documents them.
    public static let keys: [ConfigKey] = [
        ConfigKey(name: "model", help: "Path of the GGUF model file to serve.", expected: "a file path") { config, value in
            guard !value.isEmpty else { return false }
            config.modelPath = value
            return true
        },
        ConfigKey(
            name: "socket", help: "Unix socket path; by default derived from $RUNTIME_DIRECTORY or $XDG_RUNTIME_DIR.",
            expected: "an absolute path"
        ) { config, value in
            guard value.hasPrefix("/") else { return false }
            config.socketPath = value
            return true
        },
        ConfigKey(
            name: "kv-cache-memory", help: "KV cache size, bytes or with a K/M/G suffix.",
            expected: "a size like 536870912, 512M or 2G"
        ) { config, value in
            guard let bytes = ConfigValueParser.bytes(value) else { return false }
            config.engine.kvCacheMemory = bytes
            return true
        },
        ConfigKey(name: "block-size", help: "Token positions per KV block.", expected: "an integer in 1...256") { config, value in
            guard let n = ConfigValueParser.integer(value, in: 1...256) else { return false }
            config.engine.blockSize = n
            return true
        },
        ConfigKey(
            name: "kv-precision", help: "KV cache element type.",
            expected: KVPrecision.allCases.map(\.rawValue).joined(separator: ", ")
        ) { config, value in
            guard let precision = KVPrecision(rawValue: value.lowercased()) else { return false }
            config.engine.kvPrecision = precision
            return true
        },
        ConfigKey(name: "prefix-caching", help: "Reuse KV blocks of identical prompt prefixes.", expected: "yes or no") {
            config, value in
            guard let flag = ConfigValueParser.boolean(value) else { return false }
            config.engine.prefixCaching = flag
            return true
        },
        ConfigKey(
            name: "max-batched-tokens", help: "Most tokens one engine step runs (decodes plus prefill chunks).",
            expected: "a positive integer"
        ) { config, value in
            guard let n = ConfigValueParser.integer(value, in: 1...Int(Int32.max)) else { return false }
            config.engine.maxBatchedTokens = n
            return true
        },
        ConfigKey(
            name: "max-decode-stall",
            help: "Most a step's prefill work may slow the decodes beside it, as a multiple of their time alone (0 = off).",
            expected: "0 or a number in \(EngineConfig.decodeStallRange.lowerBound)...\(EngineConfig.decodeStallRange.upperBound)"
        ) { config, value in
            guard let x = Double(value), x == 0 || EngineConfig.decodeStallRange.contains(x) else { return false }
            config.engine.maxDecodeStall = x
            return true
        },
        ConfigKey(name: "max-seqs", help: "Most sequences running at once.", expected: "a positive integer") { config, value in
            guard let n = ConfigValueParser.integer(value, in: 1...Int(Int32.max)) else { return false }
            config.engine.maxSequences = n
            return true
        },
        ConfigKey(
            name: "max-waiting", help: "Most requests queued for admission before new ones are refused.",
            expected: "a positive integer"
        ) { config, value in
            guard let n = ConfigValueParser.integer(value, in: 1...Int(Int32.max)) else { return false }
            config.engine.maxWaitingRequests = n
            return true
        },
        ConfigKey(
            name: "max-buffered-events",
            help: "Events a client may leave unread before its generation pauses (bounds what a slow reader costs).",
            expected: "an integer of at least 2"
        ) { config, value in
            guard let n = ConfigValueParser.integer(value, in: 2...Int(Int32.max)) else { return false }
            config.engine.maxBufferedEvents = n
            return true
        },
        ConfigKey(
            name: "stalled-reader-timeout",
            help: "How long a generation paused for a client that reads nothing waits before it is cancelled; 'none' waits for ever.",
            expected: "a duration like 60s or 2m, or 'none'"
        ) { config, value in
            guard let timeout = ConfigValueParser.noneOr(value, ConfigValueParser.positiveSeconds) else { return false }
            config.engine.stalledReaderTimeout = timeout
            return true
        },
        ConfigKey(
            name: "default-max-tokens", help: "max_tokens for requests that set none; 'none' means up to the context length.",
            expected: "a positive integer or 'none'"
        ) { config, value in
            guard let n = ConfigValueParser.noneOr(value, { ConfigValueParser.integer($0, in: 1...Int(Int32.max)) }) else {
                return false
            }
            config.engine.defaultMaxTokens = n
            return true
        },
        ConfigKey(
            name: "expert-cache",
            help: "Mixture-of-experts models: bytes of routed experts kept in memory, the rest read from the file on demand; 'none' keeps all mapped.",
            expected: "a size like 512M or 2G, or 'none'"
        ) { config, value in
            guard let bytes = ConfigValueParser.noneOr(value, ConfigValueParser.bytes) else { return false }
            config.engine.expertCacheBytes = bytes
            return true
        },
        ConfigKey(
            name: "weight-memory",
            help: "Bytes of the model file kept in memory; layers that do not fit are streamed from the file every forward pass; 'none' keeps it all.",
            expected: "a size like 512M or 2G, or 'none'"
        ) { config, value in
            guard let bytes = ConfigValueParser.noneOr(value, ConfigValueParser.bytes) else { return false }
            config.engine.weightMemoryBytes = bytes
            return true
        },
        ConfigKey(
            name: "kv-swap-space",
            help: "Bytes of the KV swap file (in $STATE_DIRECTORY, else next to the socket): preempted sequences and evicted prefix blocks go there instead of being recomputed; 0 turns it off.",
            expected: "a size like 512M or 2G, or 0 (off)"
        ) { config, value in
            let off = value.trimmingCharacters(in: .whitespaces) == "0"
            guard let bytes = off ? 0 : ConfigValueParser.bytes(value) else { return false }
            config.engine.kvSwapSpace = bytes
            return true
        },
        ConfigKey(
            name: "apar-fork-token",
            help: "Text of an APAR model's fork token; a model whose vocabulary has it and the child token forks.",
            expected: "a token's text, e.g. [SplitMask]"
        ) { config, value in
            guard let text = ConfigValueParser.text(value) else { return false }
            config.engine.aparForkToken = text
            return true
        },
        ConfigKey(
            name: "apar-child-token",
            help: "Text of an APAR model's child token, which starts a forked branch.",
            expected: "a token's text, e.g. [SplitSop]"
        ) { config, value in
            guard let text = ConfigValueParser.text(value) else { return false }
            config.engine.aparChildToken = text
            return true
        },
        ConfigKey(
            name: "speculative",
            help: "Speculative decoding: 'ngram' proposes tokens from each sequence's own context, 'draft' has the draft model (draft-model) propose them, and the model verifies them in one pass; 'off' only when a request asks. Unset: draft with a draft model, else ngram. Greedy output is the same either way; sampled output follows the same distribution.",
            expected: Self.speculativeModes
        ) { config, value in
            guard let mode = SpeculativeMode(rawValue: value.trimmingCharacters(in: .whitespaces).lowercased()) else {
                return false
            }
            config.engine.speculative = mode
            return true
        },
        ConfigKey(
            name: "draft-model",
            help: "Path of a GGUF draft model with the served model's tokenizer (a smaller model of the same family) that proposes speculative tokens; makes 'speculative' default to draft.",
            expected: "a file path"
        ) { config, value in
            guard let path = ConfigValueParser.text(value) else { return false }
            config.setDraftModel(path)
            return true
        },
        ConfigKey(
            name: "spec-tokens", help: "Most proposed tokens a sequence verifies per step (requests may ask for fewer).",
            expected: "an integer in \(SpeculativeMode.tokenRange.lowerBound)...\(SpeculativeMode.tokenRange.upperBound)"
        ) { config, value in
            guard let n = ConfigValueParser.integer(value, in: SpeculativeMode.tokenRange) else { return false }
            config.engine.speculativeTokens = n
            return true
        },
        ConfigKey(
            name: "spec-step-tokens",
            help: "Most decode tokens, proposals included, in a step that speculates; with this many sequences decoding nothing is proposed; 0 turns speculation off.",
            expected: "an integer of at least 0"
        ) { config, value in
            guard let n = ConfigValueParser.integer(value, in: 0...Int(Int32.max)) else { return false }
            config.engine.speculativeStepTokens = n
            return true
        },
        ConfigKey(
            name: "spec-draft-cost",
            help: "What the draft model's work for one proposal costs, as a share of one decode step of the served model; proposals are made while they are expected to pay for it. 'auto' estimates it as the draft's file size over the model's.",
            expected: "a number of at least 0, or 'auto'"
        ) { config, value in
            guard let cost = ConfigValueParser.autoOr(value, ConfigValueParser.nonNegativeNumber) else { return false }
            config.engine.speculativeDraftCost = cost
            return true
        },
        ConfigKey(name: "threads", help: "Kernel worker threads; 0 means one per core.", expected: "an integer in 0...1024") {
            config, value in
            guard let n = ConfigValueParser.integer(value, in: 0...1024) else { return false }
            config.threads = n
            return true
        },
        ConfigKey(
            name: "tensor-parallel",
            help: "Split the model across this many processes of an MPI job (mpirun -np N canopyd --tensor-parallel N ...); rank 0 serves. 1: one process, no MPI.",
            expected: "an integer in 1...64"
        ) { config, value in
            guard let n = ConfigValueParser.integer(value, in: 1...64) else { return false }
            config.tensorParallel = n
            return true
        },
        ConfigKey(
            name: "pipeline-parallel",
            help: "Split the model's blocks into this many pipeline stages, each run by tensor-parallel ranks (mpirun -np TP×PP canopyd --tensor-parallel TP --pipeline-parallel PP ...). 1: no stages.",
            expected: "an integer in 1...64"
        ) { config, value in
            guard let n = ConfigValueParser.integer(value, in: 1...64) else { return false }
            config.pipelineParallel = n
            return true
        },
        ConfigKey(
            name: "parallel-timeout",
            help: "How long a rank of a tensor-parallel job waits for another inside a step before it declares it lost and the job ends.",
            expected: "a duration like 10, 10s or 500ms, at least 100ms"
        ) { config, value in
            guard let duration = ConfigValueParser.duration(value), duration >= .milliseconds(100) else { return false }
            config.parallelTimeout = duration
            return true
        },
        ConfigKey(
            name: "grace-period", help: "How long running requests may finish after SIGTERM before they are cancelled.",
            expected: "a duration like 30, 30s, 500ms or 2m"
        ) { config, value in
            guard let duration = ConfigValueParser.duration(value) else { return false }
            config.gracePeriod = duration
            return true
        },
        ConfigKey(
            name: "allowed-uids", help: "Peer users allowed to connect (ids or names); empty allows everyone who can open the socket.",
            expected: "user ids or names separated by commas or spaces"
        ) { config, value in
            guard let ids = ConfigValueParser.userIDs(value) else { return false }
            config.allowedUIDs = ids
            return true
        },
        ConfigKey(
            name: "allowed-gids", help: "Peer groups allowed to connect (ids or names), matched against the peer's primary gid.",
            expected: "group ids or names separated by commas or spaces"
        ) { config, value in
            guard let ids = ConfigValueParser.groupIDs(value) else { return false }
            config.allowedGIDs = ids
            return true
        },
        ConfigKey(
            name: "http", help: "Serve the OpenAI-compatible HTTP API on this TCP address (PORT alone means 127.0.0.1:PORT); off by default.",
            expected: "HOST:PORT or PORT, e.g. 127.0.0.1:8080 or [::1]:8080"
        ) { config, value in
            guard let address = HTTPListenAddress(value) else { return false }
            config.httpAddress = address
            return true
        },
        ConfigKey(
            name: "http-socket", help: "Serve the OpenAI-compatible HTTP API on this Unix socket too; off by default.",
            expected: "an absolute path"
        ) { config, value in
            guard value.hasPrefix("/") else { return false }
            config.httpSocketPath = value
            return true
        },
        ConfigKey(
            name: "http-token-file", help: "File whose first line is the bearer token HTTP clients must send (Authorization: Bearer ...).",
            expected: "an absolute path"
        ) { config, value in
            guard value.hasPrefix("/") else { return false }
            config.httpTokenFile = value
            return true
        },
        ConfigKey(
            name: "log-level", help: "Least severe log level written to stderr.",
            expected: "trace, debug, info, notice, warning, error or critical"
        ) { config, value in
            guard let level = Logger.Level(rawValue: value.lowercased()) else { return false }
            config.logLevel = level
            return true
        },
    ]

    /// The speculative modes as a value description: `off, ngram or draft`.
    public static var speculativeModes: String {
        let names = SpeculativeMode.allCases.map(\.rawValue)
        return names.dropLast().joined(separator: ", ") + " or " + (names.last ?? "")
    }
}
