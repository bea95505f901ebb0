import CanopyKernels

/// How the serving engine divides memory and compute between requests.
public struct EngineConfig: Sendable, Equatable {
    /// Bytes of the KV arena, allocated once at start (`--kv-cache-memory`).
    public var kvCacheMemory: Int = 512 << 20
    /// Token positions per KV block (`--block-size`).
    public var blockSize: Int = 16
    /// Element encoding of cached keys and values (`--kv-precision`).
    public var kvPrecision: KVPrecision = .f16
    /// Reuse KV blocks of identical prompt prefixes across requests.
    public var prefixCaching = true
    /// Most tokens one step may run, decodes and prefill chunks together
    /// (`--max-batched-tokens`).
    public var maxBatchedTokens: Int = 1024
    /// Most sequences running at once (`--max-seqs`).
    public var maxSequences: Int = 64
    /// Most a step's prompt work may slow the decodes running in it, as a multiple of the
    /// time those decodes take alone (`--max-decode-stall`): prefill chunks of arriving
    /// requests are cut to fit (at least `Scheduler.minimumPrefillChunk` tokens a step), so a
    /// streaming client's gap between tokens stays within about this multiple of its usual
    /// gap. Step times are estimated from measured ones (`StepCostModel`). 0 turns the
    /// bound off: prefill then fills `maxBatchedTokens`, the most throughput and the
    /// shortest time to first token for a burst of arrivals, with the longest stalls.
    public var maxDecodeStall: Double = 2.5
    /// Most requests waiting for admission before `submit` refuses new ones.
    public var maxWaitingRequests: Int = 4096
    /// `max_tokens` of requests that set none; `nil` means up to the context length.
    public var defaultMaxTokens: Int? = 256
    /// Events a request's reader may fall behind before the engine stops decoding it
    /// (`--max-buffered-events`): what a client that reads slowly, or not at all, costs in
    /// buffered memory. Applies to streams from `Engine.submit(_:)`.
    public var maxBufferedEvents: Int = 256
    /// Seconds a request may stay held back by a reader that takes none of its events
    /// before it is cancelled and its KV blocks freed (`--stalled-reader-timeout`); nil
    /// waits for ever.
    public var stalledReaderTimeout: Double? = 60
    /// Most bytes of a mixture-of-experts model's routed experts kept in memory
    /// (`--expert-cache`); the rest are read from the model file on demand. nil keeps every
    /// expert memory-mapped. Applied when the model is loaded
    /// (`LoadedModel(path:expertCacheBytes:)`), not by the engine itself.
    public var expertCacheBytes: Int?
    /// Most bytes of the model file held in memory (`--weight-memory`); the transformer
    /// blocks that do not fit are streamed from the file every forward pass (see
    /// `WeightPlacement`). nil holds the whole file. Applied when the model is loaded
    /// (`LoadedModel(path:weightMemoryBytes:)`), not by the engine itself.
    public var weightMemoryBytes: Int?
    /// Bytes of the KV swap tier (`--kv-swap-space`), a file that preempted sequences and
    /// prefix-cache blocks evicted from the arena move to instead of being recomputed or
    /// lost; 0 turns it off. Rounded down to whole KV blocks; at least one block when on.
    public var kvSwapSpace: Int = 0
    /// Directory of the swap file (created there and unlinked at once, mode 0600); nil uses
    /// the temporary directory (`$TMPDIR`, else /tmp). canopyd passes its state directory.
    public var kvSwapDirectory: String?
    /// The text of an APAR model's fork token (`--apar-fork-token`): a model whose
    /// vocabulary has both APAR tokens forks (see `AparTokens`).
    public var aparForkToken: String = AparTokens.defaultForkText
    /// The text of an APAR model's child token (`--apar-child-token`).
    public var aparChildToken: String = AparTokens.defaultChildText

    /// Speculative decoding (`--speculative`): `.ngram` proposes tokens from each
    /// sequence's own context (see `NGramProposer`), `.draft` has the draft model given to
    /// `Engine(loaded:draft:config:)` propose them (see `DraftModel`), `.off` proposes nothing
    /// unless a request asks for it (from the draft model when there is one, else by n-gram
    /// lookup). Greedy output is the same either way; sampled output is distributed the
    /// same (identical with n-gram proposals); only speed changes.
    public var speculative: SpeculativeMode = .ngram
    /// Most proposed tokens a sequence verifies per step (`--spec-tokens`), 1...32; each
    /// sequence adapts below it to its acceptance.
    public var speculativeTokens: Int = 8
    /// Most decode tokens, proposals included, in a step that speculates
    /// (`--spec-step-tokens`): with this many sequences decoding or more, nothing is
    /// proposed (the step is already bound by arithmetic). 0 turns speculation off.
    /// 9, one sequence's token and `speculativeTokens` proposals: a step's cost grows about
    /// linearly in its tokens up to there, 1.38, 1.69, 2.05, 2.37, 2.65, 2.95, 3.08 and 3.46
    /// one-token steps for 2 to 9 tokens on a 2-core Xeon (`canopy-bench single --windows 9`
    /// in `bench/results/2026-12-06-ef1efae-speculative.md`), once the integer kernels stopped
    /// running 5 to 7 tokens as a group of 4 and a second group.
    public var speculativeStepTokens: Int = 9
    /// What one more token costs a decode step, as a share of a one-token step, until the
    /// engine has measured it (`VerificationCostModel`): proposals are made only while they
    /// are expected to pay for it (see `Scheduler.stepProposalThreshold`). A step of `n` tokens
    /// takes about `1 + cost × (n − 1)` one-token steps: 0.27-0.31 per token up to 9 on a
    /// 2-core Xeon with AVX-512 VNNI (the measurement above), 0.47 on a 2-core AVX2 Zen 3.
    /// 0 proposes whenever there is a proposal and is never replaced by a measurement (tests).
    public var speculativeTokenCost: Double = 0.3
    /// What the draft model's work for one proposal costs, as a share of a one-token step of
    /// the served model, added to `speculativeTokenCost` for draft proposals; nil estimates
    /// it as the ratio of the two models' file sizes (a decode step reads every weight once).
    /// 0 makes draft proposals as cheap as n-gram ones (tests).
    public var speculativeDraftCost: Double?

    /// The most proposals per step a request gets when it does not choose
    /// (`Request.speculativeTokens`).
    var defaultSpeculativeTokens: Int { speculative == .off ? 0 : speculativeTokens }

    /// The values `maxDecodeStall` may take besides 0 (off): below 1 no prefill could run
    /// beside a decode.
    public static let decodeStallRange: ClosedRange<Double> = 1...1000

    /// Creates the default configuration.
    public init() {}

    /// Checks ranges, naming the option and the allowed values.
    public func validate() throws(EngineError) {
        guard blockSize >= 1, blockSize <= 256 else {
            throw .invalidConfiguration("block size must be in 1...256, got \(blockSize)")
        }
        guard maxBatchedTokens >= 1 else {
            throw .invalidConfiguration("max batched tokens must be at least 1, got \(maxBatchedTokens)")
        }
        guard maxSequences >= 1 else {
            throw .invalidConfiguration("max sequences must be at least 1, got \(maxSequences)")
        }
        guard Self.decodeStallRange.contains(maxDecodeStall) || maxDecodeStall == 0 else {
            throw .invalidConfiguration(
                "max decode stall must be 0 (off) or in \(Self.decodeStallRange.lowerBound)...\(Self.decodeStallRange.upperBound), got \(maxDecodeStall)")
        }
        if let expertCacheBytes, expertCacheBytes < 0 {
            throw .invalidConfiguration("expert cache size must be at least 0 bytes, got \(expertCacheBytes)")
        }
        guard maxBufferedEvents >= 2 else {
            throw .invalidConfiguration("max buffered events must be at least 2, got \(maxBufferedEvents)")
        }
        if let stalledReaderTimeout, !(stalledReaderTimeout > 0) {
            throw .invalidConfiguration("stalled reader timeout must be above 0 seconds, got \(stalledReaderTimeout)")
        }
        if let weightMemoryBytes, weightMemoryBytes < 0 {
            throw .invalidConfiguration("weight memory must be at least 0 bytes, got \(weightMemoryBytes)")
        }
        guard kvSwapSpace >= 0 else {
            throw .invalidConfiguration("KV swap space must be at least 0 bytes, got \(kvSwapSpace)")
        }
        guard SpeculativeMode.tokenRange.contains(speculativeTokens) else {
            throw .invalidConfiguration(
                "speculative tokens must be in \(SpeculativeMode.tokenRange.lowerBound)...\(SpeculativeMode.tokenRange.upperBound), got \(speculativeTokens)")
        }
        guard speculativeTokenCost >= 0, speculativeTokenCost.isFinite else {
            throw .invalidConfiguration("speculative token cost must be a finite number ≥ 0, got \(speculativeTokenCost)")
        }
        if let speculativeDraftCost, !(speculativeDraftCost >= 0 && speculativeDraftCost.isFinite) {
            throw .invalidConfiguration("speculative draft cost must be a finite number ≥ 0, got \(speculativeDraftCost)")
        }
        guard speculativeStepTokens >= 0 else {
            throw .invalidConfiguration("speculative step tokens must be at least 0, got \(speculativeStepTokens)")
        }
        if let defaultMaxTokens, defaultMaxTokens < 1 {
            throw .invalidConfiguration("default max tokens must be at least 1, got \(defaultMaxTokens)")
        }
    }
}

/// Why the engine could not start or refused work.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    /// A configuration value is out of range.
    case invalidConfiguration(String)
    /// The request was refused (bad parameters, too long, ...).
    case rejected(RequestError)
    /// Too many requests are waiting; retry later.
    case queueFull(waiting: Int)
    /// The engine is shutting down and accepts no new requests.
    case shuttingDown

    public var description: String {
        switch self {
        case .invalidConfiguration(let message): return "invalid engine configuration: \(message)"
        case .rejected(let error): return error.description
        case .queueFull(let waiting): return "the engine queue is full (\(waiting) requests waiting); retry later"
        case .shuttingDown: return "the engine is shutting down and accepts no new requests"
        }
    }
}
