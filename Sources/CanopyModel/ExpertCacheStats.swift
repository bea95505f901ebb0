/// Counters of an `ExpertCache` since the model was loaded.
///
/// Every use of an expert's weights by a forward pass is exactly one hit or one miss.
public struct ExpertCacheStats: Sendable, Equatable {
    /// Resident slots (experts the cache can hold at once).
    public var slots = 0
    /// Routed experts in the model (all blocks).
    public var totalExperts = 0
    /// Bytes of one slot (the largest expert's three matrices).
    public var slotBytes = 0
    /// Uses served by a resident expert (including ones the prefetcher loaded).
    public var hits: UInt64 = 0
    /// Uses that had to read the expert from the file first.
    public var misses: UInt64 = 0
    /// Of the hits, first uses of an expert the prefetcher loaded.
    public var prefetchHits: UInt64 = 0
    /// Experts the prefetcher read.
    public var prefetchLoads: UInt64 = 0
    /// Resident experts replaced by another one.
    public var evictions: UInt64 = 0
    /// Bytes read from the model file (misses and prefetches).
    public var bytesRead: UInt64 = 0

    /// Creates zero counters.
    public init() {}

    /// Bytes the cache holds resident: `slots × slotBytes`.
    public var capacityBytes: Int { slots * slotBytes }

    /// `hits / (hits + misses)`, or 0 before the first use.
    public var hitRatio: Double {
        let uses = hits + misses
        return uses == 0 ? 0 : Double(hits) / Double(uses)
    }
}
