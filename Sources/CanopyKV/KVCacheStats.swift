/// A snapshot of the block pool, of the prefix cache's effectiveness, and of the swap tier.
///
/// Guarantees (checked by `KVCacheManager.invariantViolations()`):
/// `usedBlocks + freeBlocks == totalBlocks`, `cachedBlocks <= freeBlocks`,
/// `swapFreeSlots + swapCachedBlocks <= swapSlots` (the rest hold swapped-out sequences).
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
    /// Prompt tokens whose K/V rows were served from the prefix cache (either tier).
    public var prefixHits: Int
    /// Cached blocks dropped from the arena's prefix cache to satisfy an allocation (with a
    /// swap tier, most of them move there).
    public var evictions: Int
    /// Shared partly filled blocks copied before a sequence appended to them.
    public var copyOnWrites: Int
    /// The most blocks in use at once since start or `KVCacheManager.resetPeakUsedBlocks()`.
    public var peakUsedBlocks = 0

    /// Slots in the swap tier (`--kv-swap-space / blockBytes`); 0 without one.
    public var swapSlots = 0
    /// Bytes of one slot (one KV block); 0 without a swap tier.
    public var swapSlotBytes = 0
    /// Swap slots holding nothing.
    public var swapFreeSlots = 0
    /// Swap slots holding a cached prefix block evicted from the arena.
    public var swapCachedBlocks = 0
    /// Sequences currently swapped out.
    public var swappedSequences = 0
    /// Blocks written to the tier: swapped-out sequences' blocks and demoted prefix blocks.
    public var swapOutBlocks = 0
    /// Blocks read back from the tier: swapped-in sequences' blocks and prefix swap hits.
    public var swapInBlocks = 0
    /// Cached prefix blocks found in the swap tier and read back (a subset of
    /// `swapInBlocks`; their tokens count in `prefixHits` too).
    public var prefixSwapHits = 0
    /// Swap writes or reads that failed (the sequence was recomputed, or the prefix block
    /// forgotten, instead).
    public var swapFailures = 0

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

    /// Bytes written to the swap tier (`swapOutBlocks × swapSlotBytes`).
    public var swapOutBytes: Int { swapOutBlocks * swapSlotBytes }
    /// Bytes read from the swap tier (`swapInBlocks × swapSlotBytes`).
    public var swapInBytes: Int { swapInBlocks * swapSlotBytes }
}
