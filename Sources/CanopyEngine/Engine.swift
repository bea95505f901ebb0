import CanopyKV
import CanopyKernels
import CanopyModel
import Foundation

/// The serving engine: many requests share one model and one pool of KV memory, and every
/// step runs one batched forward pass over all of them (continuous batching).
///
/// `submit` validates and tokenizes on the caller's thread, then hands the request to the
/// engine thread, which calls the request's event handler as tokens are produced. All
/// methods are thread-safe.
public final class Engine: @unchecked Sendable {
    /// The model being served.
    public let loaded: LoadedModel
    /// The configuration the engine runs with.
    public let config: EngineConfig
    /// Prepares requests for admission.
    public let preparer: PromptPreparer
    /// The model's APAR tokens (found by the texts in the configuration), or nil: then no
    /// request forks.
    public let aparTokens: AparTokens?
    /// What requests get for the sampling parameters they leave unset: the model file's
    /// recommended settings, else llama.cpp's (see `SamplingDefaults`).
    public let samplingDefaults: SamplingDefaults

    // Guarded by `condition`: the inbox the engine thread drains, and published state.
    private let condition = NSCondition()
    private var inbox: [(UInt64, RequestState)] = []
    private var cancellations: [UInt64] = []
    private var nextKey: UInt64 = 1
    private var stopping = false
    /// Set by `shutdown(drain: false)`: the engine thread cancels every request.
    private var cancelAllRequested = false
    private var stopped = false
    private var snapshot = EngineMetrics()
    private var pendingWaiting = 0
    private var idle = true
    /// Set when a held-back request's reader caught up (see `readerCaughtUp`).
    private var readerProgress = false

    private let core: EngineCore

    /// The draft model proposing speculative tokens, if any (`--draft-model`).
    public let draft: LoadedModel?

    /// Allocates the KV arena and starts the engine thread. With a `draft` model (which
    /// `config.speculative` must then be `.draft` or `.off`), the draft proposes speculative
    /// tokens, and `kvCacheMemory` holds both models' KV caches, each for the same number of
    /// tokens. Throws `.invalidConfiguration` for a bad setting or a draft whose vocabulary
    /// is not the model's.
    public convenience init(loaded: LoadedModel, draft: LoadedModel? = nil, config: EngineConfig = EngineConfig()) throws(EngineError) {
        try self.init(loaded: loaded, draft: draft, config: config, costModel: nil)
    }

    /// `Engine(loaded:draft:config:)` with the preemption cost model's starting estimates
    /// given (tests); nil starts from the defaults and a probe of the swap tier.
    init(
        loaded: LoadedModel, draft: LoadedModel? = nil, config: EngineConfig, costModel initialCostModel: PreemptionCostModel?
    ) throws(EngineError) {
        try config.validate()
        if config.speculative == .draft, draft == nil {
            throw .invalidConfiguration("speculative decoding by a draft model needs one: give --draft-model PATH")
        }
        if draft != nil, config.speculative == .ngram {
            throw .invalidConfiguration("a draft model is given but speculative decoding is set to ngram: use draft, or drop the draft model")
        }
        if let draft { try DraftModel.checkVocabulary(draft: draft, target: loaded) }
        self.loaded = loaded
        self.config = config
        self.draft = draft
        samplingDefaults = SamplingDefaults(file: loaded.file)
        // The arena holds the heads and layers this process attends with (a parallel rank's share).
        let c = loaded.model.config
        if loaded.isParallelRank, config.kvSwapSpace > 0 {
            throw .invalidConfiguration("--kv-swap-space does not combine with tensor or pipeline parallelism yet: set it to 0")
        }
        let layout = PagedKVLayout(
            blockSize: config.blockSize, layers: c.blockCount, kvHeads: c.headCountKV,
            headDimension: c.headDimension, precision: config.kvPrecision)
        let draftBlockBytes = draft.map {
            PagedKVLayout(
                blockSize: config.blockSize, layers: $0.config.blockCount, kvHeads: $0.config.headCountKV,
                headDimension: $0.config.headDimension, precision: config.kvPrecision
            ).blockBytes
        } ?? 0
        let blocks = config.kvCacheMemory / (layout.blockBytes + draftBlockBytes)
        guard blocks >= 1 else {
            throw .invalidConfiguration(
                "KV cache memory \(config.kvCacheMemory) bytes holds no block; one block of \(config.blockSize) tokens needs \(layout.blockBytes + draftBlockBytes) bytes\(draft == nil ? "" : " (the model's and the draft model's)")")
        }
        var swapTier: KVSwapTier?
        if config.kvSwapSpace > 0 {
            let directory = config.kvSwapDirectory ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
            do {
                swapTier = try KVSwapTier(directory: directory, capacityBytes: config.kvSwapSpace, slotBytes: layout.blockBytes)
            } catch {
                throw .invalidConfiguration(error.description)
            }
        }
        let kv = KVCacheManager(
            layout: layout, blockCount: blocks, prefixCaching: config.prefixCaching, swapTier: swapTier,
            recordingCopies: loaded.isParallelRank)
        var costModel = PreemptionCostModel()
        if let initialCostModel {
            costModel = initialCostModel
        } else if let measured = swapTier?.measureThroughput() {
            costModel = PreemptionCostModel(swapBytesPerSecond: measured)
        }
        let drafter = try draft.map { draft throws(EngineError) in
            try DraftModel(
                draft, target: loaded, blockCount: blocks, blockSize: config.blockSize, precision: config.kvPrecision,
                chunkTokens: config.maxBatchedTokens)
        }
        core = EngineCore(loaded: loaded, kv: kv, drafter: drafter, config: config, costModel: costModel)
        aparTokens = AparTokens.find(
            in: loaded.tokenizer, forkText: config.aparForkToken, childText: config.aparChildToken)
        preparer = PromptPreparer(
            loaded: loaded, defaultMaxTokens: config.defaultMaxTokens,
            cacheCapacity: kv.stats.totalBlocks * config.blockSize)
        snapshot = EngineMetrics(
            counters: EngineCounters(), waiting: 0, running: 0, preemptions: 0, swapPreemptions: 0, kv: kv.stats,
            verificationTokenCost: core.scheduler.verificationCost.cost)
        core.willComplete = { [unowned self] in publishMetrics() }
        let thread = Thread { [self] in run() }
        thread.name = "canopy-engine"
        thread.start()
    }

    /// Identifies a submitted request for `cancel`.
    public struct RequestKey: Sendable, Hashable {
        let value: UInt64
    }

    /// Queues `request`; `onEvent` is called on the engine thread for each event, ending with
    /// `.completed`. Keep it short: it runs between model steps.
    ///
    /// - Throws: `.rejected` for a request that can never run, `.queueFull`, `.shuttingDown`.
    @discardableResult
    public func submit(_ request: Request, onEvent: @escaping @Sendable (EngineEvent) -> Void) throws(EngineError) -> RequestKey {
        try submit(request, backlog: nil, onEvent: onEvent)
    }

    private func submit(
        _ request: Request, backlog: EventBacklog?, onEvent: @escaping @Sendable (EngineEvent) -> Void
    ) throws(EngineError) -> RequestKey {
        let prepared: PromptPreparer.Prepared
        let forks = aparTokens != nil && request.sampling.n == 1 && request.parallel.enabled != false
        do {
            prepared = try preparer.prepare(request, forking: forks)
        } catch {
            throw .rejected(error)
        }
        let endTokens = request.stop.ignoreEndOfGeneration
            ? request.stop.stopTokenIDs
            : request.stop.stopTokenIDs.union(loaded.tokenizer.endOfGenerationTokens)
        let state = RequestState(
            request: request, promptIDs: prepared.promptTokenIDs, maxTokens: prepared.maxTokens,
            endTokens: endTokens, apar: forks ? aparTokens : nil, sink: onEvent)
        state.backlog = backlog
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw .shuttingDown }
        guard pendingWaiting + inbox.count < config.maxWaitingRequests else {
            throw .queueFull(waiting: pendingWaiting + inbox.count)
        }
        let key = nextKey
        nextKey += 1
        inbox.append((key, state))
        condition.signal()
        return RequestKey(value: key)
    }

    /// Queues `request` and returns its events as an async stream. Cancelling the consuming
    /// task (or dropping the stream) cancels the request and frees its blocks. The request
    /// only goes on while its events are read (see `EngineEventStream`).
    public func submit(_ request: Request) throws(EngineError) -> (key: RequestKey, events: EngineEventStream) {
        let (stream, continuation) = AsyncStream<EngineEvent>.makeStream()
        let backlog = EventBacklog(limit: config.maxBufferedEvents)
        let key = try submit(request, backlog: backlog) { event in
            backlog.produced()
            continuation.yield(event)
            if case .completed = event { continuation.finish() }
        }
        continuation.onTermination = { [weak self] reason in
            if case .cancelled = reason { self?.cancel(key) }
        }
        let events = EngineEventStream(base: stream, backlog: backlog) { [weak self] in self?.readerCaughtUp() }
        return (key, events)
    }

    /// A held-back request's reader caught up: wake the engine thread if it is waiting.
    private func readerCaughtUp() {
        condition.lock()
        readerProgress = true
        condition.signal()
        condition.unlock()
    }

    /// Cancels a request: it ends with reason `.cancelled` and its KV blocks are freed at the
    /// next step boundary. Unknown or finished keys are ignored.
    public func cancel(_ key: RequestKey) {
        condition.lock()
        cancellations.append(key.value)
        condition.signal()
        condition.unlock()
    }

    /// The latest metrics snapshot, refreshed at the end of every step and before every
    /// `.completed` event (so a request is counted by the time its caller sees it complete;
    /// queue and KV figures may trail by a step while busy); the expert load and expert
    /// cache counters are read at the call.
    public func metrics() -> EngineMetrics {
        condition.lock()
        var metrics = snapshot
        condition.unlock()
        // Model-wide counters with their own locks, read fresh rather than once per step.
        metrics.expertLoad = loaded.expertLoad?.snapshot() ?? []
        metrics.expertCache = loaded.expertCache?.stats()
        metrics.weightStreaming = loaded.weightResidency?.stats()
        metrics.parallel = loaded.exchange?.statistics
        return metrics
    }

    /// Checks the KV block managers' invariants (reference counts, free lists, prefix map;
    /// the draft model's too, which must then hold no block)
    /// once the engine is idle; returns the violations found (empty when all hold). For tests
    /// and debugging: waits for idleness first.
    public func kvInvariantViolations() -> [String] {
        condition.lock()
        defer { condition.unlock() }
        waitForIdleLocked()
        // The engine thread is parked in `condition.wait()` and cannot run while we hold the lock.
        var violations = core.kv.invariantViolations()
        if let drafter = core.scheduler.drafter {
            violations += drafter.kv.invariantViolations().map { "draft KV: " + $0 }
            // Idle: no sequence left, so the draft may keep cached blocks but hold none.
            let held = drafter.kv.stats.usedBlocks
            if held > 0 { violations.append("draft KV: \(held) blocks held with no sequence running") }
        }
        return violations
    }

    /// Testing only: forces forks on a schedule (see `EngineCore.forkSchedule`); set before
    /// submitting work.
    func setForkSchedule(_ schedule: ((_ branch: Int, _ generated: Int) -> Bool)?) {
        condition.lock()
        defer { condition.unlock() }
        core.forkSchedule = schedule
    }

    /// The KV swap tier, for tests that inject transfer failures (set its hook before
    /// submitting work: the engine thread reads it).
    var kvSwapTier: KVSwapTier? { core.kv.swapTier }

    /// Blocks until no request is queued or running.
    public func waitUntilIdle() {
        condition.lock()
        waitForIdleLocked()
        condition.unlock()
    }

    /// Waits, holding `condition`, until the engine thread is parked with nothing to do.
    private func waitForIdleLocked() {
        while !(idle && inbox.isEmpty && cancellations.isEmpty) { condition.wait() }
    }

    /// Stops accepting requests; running ones finish (`drain`) or are cancelled, then the
    /// engine thread exits. Returns when it has.
    public func shutdown(drain: Bool = true) {
        condition.lock()
        stopping = true
        if !drain { cancelAllRequested = true }
        condition.signal()
        while !stopped { condition.wait() }
        condition.unlock()
    }

    /// Copies the core's counters into the snapshot `metrics()` returns. Runs on the engine
    /// thread after every step, and before every `.completed` event, so a client that asks
    /// for metrics after its request completed sees it counted.
    private func publishMetrics() {
        let metrics = EngineMetrics(
            counters: core.counters, waiting: core.waitingCount, running: core.runningCount,
            preemptions: core.preemptions, swapPreemptions: core.scheduler.swapPreemptions, kv: core.kv.stats,
            draftingSeconds: core.scheduler.draftingSeconds,
            verificationTokenCost: core.scheduler.verificationCost.cost)
        condition.lock()
        snapshot = metrics
        pendingWaiting = core.waitingCount
        condition.unlock()
    }

    /// Every request with work is held back by a slow reader: wait until one catches up, a
    /// request arrives or is cancelled, or a short interval passes (held-back requests are
    /// checked against the stalled-reader timeout each step).
    private func waitForReaders() {
        condition.lock()
        if !readerProgress && inbox.isEmpty && cancellations.isEmpty && !stopping {
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
        }
        readerProgress = false
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while inbox.isEmpty && cancellations.isEmpty && !core.hasWork && !stopping {
                idle = true
                condition.broadcast()
                condition.wait()
            }
            idle = false
            let arrivals = inbox
            let cancelled = cancellations
            // The arrivals wait in the core from now on; count them as waiting until the next
            // snapshot, or `submit` would admit another full queue meanwhile.
            pendingWaiting += arrivals.count
            inbox.removeAll()
            cancellations.removeAll()
            let cancelEverything = cancelAllRequested
            let exit = stopping && arrivals.isEmpty && !core.hasWork
            condition.unlock()

            for (key, state) in arrivals { core.add(state, key: key) }
            for key in cancelled { core.cancel(key: key) }
            if cancelEverything { core.cancelAll() }
            if exit { break }
            let ran = core.step()
            publishMetrics()
            if !ran && core.hasWork { waitForReaders() }
        }
        condition.lock()
        stopped = true
        idle = true
        condition.broadcast()
        condition.unlock()
    }
}
