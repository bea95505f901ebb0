/// A snapshot of the block pool and of the prefix cache's effectiveness.
///
/// Guarantees (checked by `KVCacheManager.invariantViolations()`):
/// `usedBlocks + freeBlocks == totalBlocks` and `cachedBlocks <= freeBlocks`.
public struct KVCacheStats: Sendable, Equatable {
    /// Blocks in the arena.
    public var totalBlocks: Int
    /// Blocks referenced by at least one live sequence.
    public var usedBlocks: Int
    /// Blocks that an allocation can take: never-used or released blocks, plus evictable
    /// cached blocks.
    public var freeBlocks: Int
    /// Unreferenced blocks still holding a reusable prefix (evictable, LRU order). A subset
    /// of `freeBlocks`.
    public var cachedBlocks: Int
    /// Prompt tokens passed to `startSequence` (looked up in the prefix cache).
    public var prefixQueries: Int
    /// Prompt tokens whose K/V rows were served from the prefix cache.
    public var prefixHits: Int
    /// Cached blocks dropped from the prefix cache to satisfy an allocation.
    public var evictions: Int
    /// Shared partly filled blocks copied before a sequence appended to them.
    public var copyOnWrites: Int

    /// Creates a snapshot; all counters default to zero.
    public init(
        totalBlocks: Int = 0, usedBlocks: Int = 0, freeBlocks: Int = 0, cachedBlocks: Int = 0,
        prefixQueries: Int = 0, prefixHits: Int = 0, evictions: Int = 0, copyOnWrites: Int = 0
    ) {
        self.totalBlocks = totalBlocks
        self.usedBlocks = usedBlocks
        self.freeBlocks = freeBlocks
        self.cachedBlocks = cachedBlocks
        self.prefixQueries = prefixQueries
        self.prefixHits = prefixHits
        self.evictions = evictions
        self.copyOnWrites = copyOnWrites
    }

    /// Fraction of looked-up prompt tokens served from the cache (0 when nothing was
    /// looked up).
    public var prefixHitRate: Double {
        prefixQueries == 0 ? 0 : Double(prefixHits) / Double(prefixQueries)
    }
}
