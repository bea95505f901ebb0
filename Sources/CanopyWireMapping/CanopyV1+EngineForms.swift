import CanopyEngine
import CanopyKV
import CanopyModel
import CanopyWire

// The protocol forms of the engine's, the model's and the KV cache's counters: server-side
// conversions, kept out of CanopyWire so the wire types and the client need no engine.

extension CanopyV1.ExpertCacheStats {
    /// The wire form of the model's counters.
    public init(_ s: CanopyModel.ExpertCacheStats) {
        self.init()
        slots = UInt32(clamping: s.slots)
        totalExperts = UInt32(clamping: s.totalExperts)
        slotBytes = UInt64(clamping: s.slotBytes)
        hits = s.hits
        misses = s.misses
        prefetchHits = s.prefetchHits
        prefetchLoads = s.prefetchLoads
        evictions = s.evictions
        bytesRead = s.bytesRead
        hitRatio = s.hitRatio
    }
}

extension CanopyV1.KVSwapStats {
    /// The wire form of the KV manager's swap figures; nil when there is no swap tier.
    public init?(_ s: CanopyKV.KVCacheStats) {
        guard s.swapSlots > 0 else { return nil }
        self.init()
        slots = UInt32(clamping: s.swapSlots)
        slotBytes = UInt64(clamping: s.swapSlotBytes)
        freeSlots = UInt32(clamping: s.swapFreeSlots)
        cachedBlocks = UInt32(clamping: s.swapCachedBlocks)
        swappedSequences = UInt32(clamping: s.swappedSequences)
        swapOutBlocks = UInt64(clamping: s.swapOutBlocks)
        swapOutBytes = UInt64(clamping: s.swapOutBytes)
        swapInBlocks = UInt64(clamping: s.swapInBlocks)
        swapInBytes = UInt64(clamping: s.swapInBytes)
        prefixSwapHits = UInt64(clamping: s.prefixSwapHits)
        failures = UInt64(clamping: s.swapFailures)
    }
}

extension CanopyV1.SamplingDefaults {
    /// The engine's defaults in their protocol form.
    public init(_ d: CanopyEngine.SamplingDefaults) {
        self.init()
        temperature = d.temperature
        topK = Int32(clamping: d.topK)
        topP = d.topP
        minP = d.minP
        repetitionPenalty = d.repetitionPenalty
        keysFromFile = d.keysFromFile
    }
}

extension CanopyV1.SpeculationStats {
    /// The wire form of the engine's counters.
    public init(_ s: CanopyEngine.SpeculationStats) {
        self.init()
        chunks = UInt64(clamping: s.chunks)
        proposedTokens = UInt64(clamping: s.proposedTokens)
        acceptedTokens = UInt64(clamping: s.acceptedTokens)
        acceptanceRate = s.acceptanceRate
        tokensPerChunk = s.tokensPerChunk
        draftingSeconds = s.draftingSeconds
        verificationTokenCost = s.verificationTokenCost
    }
}

extension CanopyV1.WeightStreamingStats {
    /// The wire form of the model's statistics.
    public init(_ s: CanopyModel.WeightStreamingStats) {
        self.init()
        budgetBytes = UInt64(clamping: s.budgetBytes)
        residentBytes = UInt64(clamping: s.residentBytes)
        streamedBytesPerPass = UInt64(clamping: s.streamedBytesPerPass)
        streamedLayers = UInt32(clamping: s.streamedLayers)
        totalLayers = UInt32(clamping: s.totalLayers)
        bytesRead = UInt64(clamping: s.bytesRead)
        prefetchReads = UInt64(clamping: s.prefetchReads)
        prefetchHits = UInt64(clamping: s.prefetchHits)
        stalls = UInt64(clamping: s.stalls)
        stallSeconds = s.stallSeconds
        demandReads = UInt64(clamping: s.demandReads)
    }
}

extension CanopyV1.StatsResponse {
    /// Copies the engine's expert load (every block; dense blocks of a mixed model stay at
    /// zero) and expert cache counters.
    mutating func setExpertMetrics(_ m: EngineMetrics) {
        expertLoad = m.expertLoad.enumerated().map { layer, counts in
            CanopyV1.ExpertLayerLoad(layer: UInt32(layer), tokens: counts.map { UInt64(clamping: $0) })
        }
        expertCache = m.expertCache.map { CanopyV1.ExpertCacheStats($0) }
    }
}
