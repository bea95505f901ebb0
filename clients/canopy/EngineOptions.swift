import ArgumentParser
import CanopyEngine
import CanopyKernels

/// Engine flags of the commands that run an engine in-process (`batch`).
struct EngineOptions: ParsableArguments {
    @Option(help: "KV cache size, bytes or with a K/M/G suffix (e.g. 512M).")
    var kvCacheMemory: String = "512M"

    @Option(help: "Token positions per KV block.")
    var blockSize: Int = 16

    @Option(help: "KV cache element type: f32, f16 or q8.")
    var kvPrecision: String = "f16"

    @Option(help: "Most tokens one engine step runs (decodes plus prefill chunks).")
    var maxBatchedTokens: Int = 1024

    @Option(help: "Most a step's prefill work may slow the decodes beside it, as a multiple of their time alone (0 = off).")
    var maxDecodeStall: Double = EngineConfig().maxDecodeStall

    @Option(help: "Most sequences running at once.")
    var maxSeqs: Int = 64

    @Flag(help: "Disable reuse of cached prompt prefixes.")
    var noPrefixCaching = false

    @Option(help: "Mixture-of-experts models: bytes of routed experts kept in memory (e.g. 64M); the others are read from the model file on demand. Default: all mapped.")
    var expertCache: String?

    @Option(help: "Bytes of the model file kept in memory (e.g. 512M); layers that do not fit are streamed from the file every forward pass. Default: all of it.")
    var weightMemory: String?

    @Option(help: "Bytes of the KV swap file for preempted sequences and evicted prefix blocks (e.g. 1G), created in $TMPDIR and unlinked at once. Default: 0, off.")
    var kvSwapSpace: String?

    @Option(help: "Text of an APAR model's fork token.")
    var aparForkToken: String = AparTokens.defaultForkText

    @Option(help: "Text of an APAR model's child token.")
    var aparChildToken: String = AparTokens.defaultChildText

    /// `--threads` (validated by its own group).
    @OptionGroup var kernel: KernelOptions

    /// Sizes the kernels' worker pool; call before loading the model.
    func configureThreads() {
        kernel.configureThreads()
    }

    /// The engine configuration these flags describe.
    func engineConfig(defaultMaxTokens: Int?) throws -> EngineConfig {
        var config = EngineConfig()
        guard let bytes = ByteSize.parse(kvCacheMemory) else {
            throw ValidationError("--kv-cache-memory: '\(kvCacheMemory)' is not a size like 536870912, 512M or 2G")
        }
        guard let precision = KVPrecision(rawValue: kvPrecision) else {
            throw ValidationError("--kv-precision must be f32, f16 or q8, got '\(kvPrecision)'")
        }
        config.kvCacheMemory = bytes
        config.blockSize = blockSize
        config.kvPrecision = precision
        config.maxBatchedTokens = maxBatchedTokens
        config.maxSequences = maxSeqs
        config.maxDecodeStall = maxDecodeStall
        config.prefixCaching = !noPrefixCaching
        config.defaultMaxTokens = defaultMaxTokens
        config.aparForkToken = aparForkToken
        config.aparChildToken = aparChildToken
        if let expertCache {
            guard let bytes = ByteSize.parse(expertCache) else {
                throw ValidationError("--expert-cache: '\(expertCache)' is not a size like 67108864, 64M or 1G")
            }
            config.expertCacheBytes = bytes
        }
        if let weightMemory {
            guard let bytes = ByteSize.parse(weightMemory) else {
                throw ValidationError("--weight-memory: '\(weightMemory)' is not a size like 536870912, 512M or 2G")
            }
            config.weightMemoryBytes = bytes
        }
        if let kvSwapSpace, kvSwapSpace.trimmingCharacters(in: .whitespaces) != "0" {
            guard let bytes = ByteSize.parse(kvSwapSpace) else {
                throw ValidationError("--kv-swap-space: '\(kvSwapSpace)' is not a size like 536870912, 512M or 2G, or 0 (off)")
            }
            config.kvSwapSpace = bytes
        }
        return config
    }
}
