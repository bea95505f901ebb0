import CanopyKV
import CanopyModel

/// Running totals the engine thread keeps; copied into `EngineMetrics` snapshots.
struct EngineCounters: Sendable, Equatable {
    var steps = 0
    var batchedTokens = 0
    var generatedTokens = 0
    var requestsCompleted = 0
    var requestsCancelled = 0
    var requestsFailed = 0
    var promptTokens = 0
    var cachedPromptTokens = 0
    var queueTimeSum = 0.0
    var timeToFirstTokenSum = 0.0
    var interTokenLatencySum = 0.0
    var interTokenLatencyCount = 0
    var endToEndLatencySum = 0.0
    /// APAR forks (child branches started).
    var forks = 0
    /// Speculative decoding: chunks that verified proposals, proposals verified, and
    /// proposals accepted.
    var speculativeChunks = 0
    var proposedTokens = 0
    var acceptedTokens = 0

    mutating func record(_ m: RequestMetrics, cancelled: Bool, failed: Bool) {
        if failed {
            requestsFailed += 1
        } else if cancelled {
            requestsCancelled += 1
        } else {
            requestsCompleted += 1
        }
        promptTokens += m.promptTokens
        cachedPromptTokens += m.cachedPromptTokens
        queueTimeSum += m.queueTime
        timeToFirstTokenSum += m.timeToFirstToken
        if m.meanInterTokenLatency > 0 {
            interTokenLatencySum += m.meanInterTokenLatency
            interTokenLatencyCount += 1
        }
        endToEndLatencySum += m.endToEndLatency
    }
}

/// A consistent snapshot of the engine's state and totals since start.
public struct EngineMetrics: Sendable, Equatable {
    /// Requests waiting for admission (sequences, counting preempted ones).
    public var waitingSequences = 0
    /// Sequences holding KV blocks.
    public var runningSequences = 0
    /// Forward passes run.
    public var steps = 0
    /// Tokens run through the model over all steps (prompt chunks and decodes).
    public var batchedTokens = 0
    /// Tokens generated over all requests.
    public var generatedTokens = 0
    /// Requests that ended normally.
    public var requestsCompleted = 0
    /// Requests cancelled by their client.
    public var requestsCancelled = 0
    /// Requests failed by the engine: a forward pass carrying them failed (`ForwardError`).
    public var requestsFailed = 0
    /// Prompt tokens of finished requests.
    public var promptTokens = 0
    /// Of those, tokens served from the prefix cache.
    public var cachedPromptTokens = 0
    /// Preemptions (a sequence's blocks taken to make room): swapped out to the swap tier
    /// and read back later, or freed and recomputed later.
    public var preemptions = 0
    /// Of `preemptions`, those that swapped the sequence out (`--kv-swap-space`).
    public var swapPreemptions = 0
    /// Of `preemptions`, those that freed the sequence's blocks for recomputation.
    public var recomputePreemptions: Int { preemptions - swapPreemptions }
    /// KV cache occupancy and prefix-cache counters.
    public var kv = KVCacheStats()
    /// Mean queue time of finished requests, seconds.
    public var meanQueueTime = 0.0
    /// Mean time to first token, seconds.
    public var meanTimeToFirstToken = 0.0
    /// Mean inter-token latency, seconds (mean over requests of their mean gap).
    public var meanInterTokenLatency = 0.0
    /// Mean end-to-end latency, seconds.
    public var meanEndToEndLatency = 0.0
    /// Tokens routed to each expert since the model loaded, `[layer][expert]` (one count per
    /// token and chosen expert); empty for a dense model, all zero for a dense layer.
    public var expertLoad: [[Int]] = []
    /// Expert cache counters when routed experts are offloaded (`--expert-cache`); nil when
    /// they are all memory-mapped.
    public var expertCache: ExpertCacheStats?
    /// Weight streaming sizes and counters under `--weight-memory`; nil when every weight is
    /// resident.
    public var weightStreaming: WeightStreamingStats?
    /// APAR forks since start (child branches started).
    public var forks = 0
    /// Speculative decoding since start (`--speculative`).
    public var speculation = SpeculationStats()
    /// The parallel job's passes and exchanges as this rank sees them; nil in one process.
    public var parallel: ExchangeCounters?

    init(
        counters c: EngineCounters, waiting: Int, running: Int, preemptions: Int, swapPreemptions: Int, kv: KVCacheStats,
        draftingSeconds: Double = 0, verificationTokenCost: Double = 0
    ) {
        waitingSequences = waiting
        runningSequences = running
        steps = c.steps
        batchedTokens = c.batchedTokens
        generatedTokens = c.generatedTokens
        requestsCompleted = c.requestsCompleted
        requestsCancelled = c.requestsCancelled
        requestsFailed = c.requestsFailed
        promptTokens = c.promptTokens
        cachedPromptTokens = c.cachedPromptTokens
        forks = c.forks
        speculation = SpeculationStats(
            chunks: c.speculativeChunks, proposedTokens: c.proposedTokens, acceptedTokens: c.acceptedTokens,
            draftingSeconds: draftingSeconds, verificationTokenCost: verificationTokenCost)
        self.preemptions = preemptions
        self.swapPreemptions = swapPreemptions
        self.kv = kv
        let finished = Double(max(1, c.requestsCompleted + c.requestsCancelled))
        meanQueueTime = c.queueTimeSum / finished
        meanTimeToFirstToken = c.timeToFirstTokenSum / finished
        meanInterTokenLatency = c.interTokenLatencyCount == 0 ? 0 : c.interTokenLatencySum / Double(c.interTokenLatencyCount)
        meanEndToEndLatency = c.endToEndLatencySum / finished
    }

    /// Empty metrics.
    public init() {}
}
