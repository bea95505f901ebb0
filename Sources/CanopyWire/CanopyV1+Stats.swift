import CCanopyProto

extension CanopyV1 {
    /// Asks for the engine metrics (`canopy.v1.StatsRequest`, no fields yet).
    public struct StatsRequest: Sendable, Equatable {
        /// Creates the request.
        public init() {}
    }

    /// KV block pool occupancy and prefix-cache counters (`canopy.v1.KVCacheStats`).
    public struct KVCacheStats: Sendable, Equatable {
        /// Blocks in the arena.
        public var totalBlocks: UInt32 = 0
        /// Blocks referenced by a live sequence.
        public var usedBlocks: UInt32 = 0
        /// Blocks an allocation can take (including evictable cached ones).
        public var freeBlocks: UInt32 = 0
        /// Unreferenced blocks holding a reusable prefix.
        public var cachedBlocks: UInt32 = 0
        /// Prompt tokens looked up in the prefix cache.
        public var prefixQueries: UInt64 = 0
        /// Of those, tokens served from it.
        public var prefixHits: UInt64 = 0
        /// Cached blocks evicted.
        public var evictions: UInt64 = 0
        /// Shared blocks copied before a write.
        public var copyOnWrites: UInt64 = 0
        /// The most blocks in use at once since start.
        public var peakUsedBlocks: UInt32 = 0

        /// Creates zero statistics.
        public init() {}
    }

    /// The engine metrics (`canopy.v1.StatsResponse`).
    public struct StatsResponse: Sendable, Equatable {
        /// Sequences waiting for admission.
        public var waitingSequences: UInt32 = 0
        /// Sequences holding KV blocks.
        public var runningSequences: UInt32 = 0
        /// Forward passes run.
        public var steps: UInt64 = 0
        /// Tokens run through the model.
        public var batchedTokens: UInt64 = 0
        /// Tokens generated.
        public var generatedTokens: UInt64 = 0
        /// Requests that ended normally.
        public var requestsCompleted: UInt64 = 0
        /// Requests cancelled.
        public var requestsCancelled: UInt64 = 0
        /// Requests the engine failed mid-flight.
        public var requestsFailed: UInt64 = 0
        /// Weight streaming under `--weight-memory`; nil when every weight is resident.
        public var weightStreaming: WeightStreamingStats?
        /// Prompt tokens of finished requests.
        public var promptTokens: UInt64 = 0
        /// Of those, served from the prefix cache.
        public var cachedPromptTokens: UInt64 = 0
        /// Preemptions.
        public var preemptions: UInt64 = 0
        /// Of those, sequences swapped out, and sequences freed for recomputation.
        public var preemptionsSwapped: UInt64 = 0
        public var preemptionsRecomputed: UInt64 = 0
        /// The KV swap tier; nil without `--kv-swap-space`.
        public var kvSwap: KVSwapStats?
        /// APAR forks since start.
        public var aparForks: UInt64 = 0
        /// Speculative decoding since start.
        public var speculation = SpeculationStats()
        /// KV cache statistics.
        public var kv = KVCacheStats()
        /// Mean queue time of finished requests, seconds.
        public var meanQueueSeconds = 0.0
        /// Mean time to first token, seconds.
        public var meanTimeToFirstTokenSeconds = 0.0
        /// Mean inter-token latency, seconds.
        public var meanInterTokenLatencySeconds = 0.0
        /// Mean end-to-end latency, seconds.
        public var meanEndToEndSeconds = 0.0
        /// Seconds since the server started.
        public var uptimeSeconds = 0.0
        /// The same metrics in Prometheus text exposition format 0.0.4.
        public var prometheusText = ""
        /// Tokens routed to each expert, one entry per block (mixture-of-experts models).
        public var expertLoad: [ExpertLayerLoad] = []
        /// Expert offloading counters; nil unless experts are offloaded.
        public var expertCache: ExpertCacheStats?
        /// The parallel job, from rank 0; nil in one process.
        public var parallel: ParallelStats?

        /// Creates zero metrics.
        public init() {}
    }
}

extension CanopyV1.StatsRequest: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_stats_request_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__StatsRequest> {
        try arena.message(Canopy__V1__StatsRequest.self, canopy__v1__stats_request__init)
    }

    public init(c: UnsafePointer<Canopy__V1__StatsRequest>) { self.init() }
}

extension CanopyV1.KVCacheStats: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_kvcache_stats_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__KVCacheStats> {
        let c = try arena.message(Canopy__V1__KVCacheStats.self, canopy__v1__kvcache_stats__init)
        c.pointee.total_blocks = totalBlocks
        c.pointee.used_blocks = usedBlocks
        c.pointee.free_blocks = freeBlocks
        c.pointee.cached_blocks = cachedBlocks
        c.pointee.prefix_queries = prefixQueries
        c.pointee.prefix_hits = prefixHits
        c.pointee.evictions = evictions
        c.pointee.copy_on_writes = copyOnWrites
        c.pointee.peak_used_blocks = peakUsedBlocks
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__KVCacheStats>) {
        let m = c.pointee
        self.init()
        totalBlocks = m.total_blocks
        usedBlocks = m.used_blocks
        freeBlocks = m.free_blocks
        cachedBlocks = m.cached_blocks
        prefixQueries = m.prefix_queries
        prefixHits = m.prefix_hits
        evictions = m.evictions
        copyOnWrites = m.copy_on_writes
        peakUsedBlocks = m.peak_used_blocks
    }
}

extension CanopyV1.StatsResponse: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_stats_response_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__StatsResponse> {
        let c = try arena.message(Canopy__V1__StatsResponse.self, canopy__v1__stats_response__init)
        c.pointee.waiting_sequences = waitingSequences
        c.pointee.running_sequences = runningSequences
        c.pointee.steps = steps
        c.pointee.batched_tokens = batchedTokens
        c.pointee.generated_tokens = generatedTokens
        c.pointee.requests_completed = requestsCompleted
        c.pointee.requests_cancelled = requestsCancelled
        c.pointee.requests_failed = requestsFailed
        c.pointee.weight_streaming = try weightStreaming?.makeC(in: arena)
        c.pointee.prompt_tokens = promptTokens
        c.pointee.cached_prompt_tokens = cachedPromptTokens
        c.pointee.preemptions = preemptions
        c.pointee.preemptions_swapped = preemptionsSwapped
        c.pointee.preemptions_recomputed = preemptionsRecomputed
        c.pointee.kv_swap = try kvSwap?.makeC(in: arena)
        c.pointee.apar_forks = aparForks
        c.pointee.speculation = try speculation.makeC(in: arena)
        c.pointee.kv = try kv.makeC(in: arena)
        c.pointee.mean_queue_seconds = meanQueueSeconds
        c.pointee.mean_time_to_first_token_seconds = meanTimeToFirstTokenSeconds
        c.pointee.mean_inter_token_latency_seconds = meanInterTokenLatencySeconds
        c.pointee.mean_end_to_end_seconds = meanEndToEndSeconds
        c.pointee.uptime_seconds = uptimeSeconds
        c.pointee.prometheus_text = try arena.string(prometheusText)
        c.pointee.n_expert_load = expertLoad.count
        c.pointee.expert_load = try arena.pointers(expertLoad.map { try $0.makeC(in: arena) })
        c.pointee.expert_cache = try expertCache?.makeC(in: arena)
        c.pointee.parallel = try parallel?.makeC(in: arena)
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__StatsResponse>) {
        let m = c.pointee
        self.init()
        waitingSequences = m.waiting_sequences
        runningSequences = m.running_sequences
        steps = m.steps
        batchedTokens = m.batched_tokens
        generatedTokens = m.generated_tokens
        requestsCompleted = m.requests_completed
        requestsCancelled = m.requests_cancelled
        requestsFailed = m.requests_failed
        weightStreaming = CRead.message(m.weight_streaming, CanopyV1.WeightStreamingStats.init(c:))
        promptTokens = m.prompt_tokens
        cachedPromptTokens = m.cached_prompt_tokens
        preemptions = m.preemptions
        preemptionsSwapped = m.preemptions_swapped
        preemptionsRecomputed = m.preemptions_recomputed
        kvSwap = CRead.message(m.kv_swap, CanopyV1.KVSwapStats.init(c:))
        aparForks = m.apar_forks
        speculation = CRead.message(m.speculation, CanopyV1.SpeculationStats.init(c:)) ?? .init()
        kv = CRead.message(m.kv, CanopyV1.KVCacheStats.init(c:)) ?? .init()
        meanQueueSeconds = m.mean_queue_seconds
        meanTimeToFirstTokenSeconds = m.mean_time_to_first_token_seconds
        meanInterTokenLatencySeconds = m.mean_inter_token_latency_seconds
        meanEndToEndSeconds = m.mean_end_to_end_seconds
        uptimeSeconds = m.uptime_seconds
        prometheusText = CRead.string(m.prometheus_text)
        expertLoad = CRead.messages(m.expert_load, m.n_expert_load, CanopyV1.ExpertLayerLoad.init(c:))
        expertCache = CRead.message(m.expert_cache, CanopyV1.ExpertCacheStats.init(c:))
        parallel = CRead.message(m.parallel, CanopyV1.ParallelStats.init(c:))
    }
}
