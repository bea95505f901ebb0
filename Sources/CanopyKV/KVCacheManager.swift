import CanopyKernels

/// The paged KV cache block manager: hands out fixed-size blocks of one shared arena to
/// sequences, shares identical prompt prefixes between them (prefix caching), shares whole
/// histories on `fork` with copy-on-write of the partly filled last block, and evicts
/// unreferenced cached blocks least-recently-used first. With a swap tier
/// (`KVSwapTier`, `--kv-swap-space`), evicted cached blocks move to the tier instead of
/// being lost, prefix lookups continue into it, and whole sequences can be swapped out
/// and back in (`KVCacheManager+Swap.swift`).
///
/// Every block is always in exactly one of three states:
/// - *referenced*: `refCount > 0`, appearing `refCount` times across block tables;
/// - *free*: `refCount == 0`, on the free-list stack, not in the prefix cache;
/// - *evictable*: `refCount == 0`, in the prefix cache and in the LRU list.
/// Every swap-tier slot is likewise exactly one of free, a cached prefix block (in the
/// tier's own LRU list), or held by exactly one swapped-out sequence; a chain hash is filed
/// in at most one of the two tiers.
/// Full blocks may be shared and are never written again (positions only append); a
/// partly filled block is written only by a sequence that holds it alone.
///
/// Costs: allocation and release are O(1) per block (plus one block write when an eviction
/// moves a block to the swap tier); `startSequence` is O(prompt length) (hashing, plus one
/// block read per swap-tier hit); `appendSlots` is O(tokens + new blocks × blockBytes) (a
/// copy-on-write copies one block).
///
/// Not thread-safe: owned and called by the scheduler only.
public final class KVCacheManager {
    /// The memory holding every block's rows.
    public let arena: KVArena
    /// Whether full blocks are registered and looked up in the prefix cache.
    public let prefixCaching: Bool

    /// The second tier, if any (`--kv-swap-space`).
    public let swapTier: KVSwapTier?

    // Internal rather than private: `KVCacheManager+Swap.swift` and the invariant checker
    // work on them too. Nothing outside this type's files mutates them.
    var sequences: [SequenceID: SequenceState] = [:]
    var refCounts: [Int32]
    /// Unreferenced, uncached blocks; a stack so the most recently freed block is reused.
    var freeList: [Int32]
    var evictable: BlockLRU
    /// The prefix cache: chain hash → block, and each cached block's key (nil if uncached).
    var cachedBlock: [Int: Int32] = [:]
    var blockKeys: [PrefixBlockKey?]
    /// The next prefix-cache entry serial (see `PrefixBlockKey`).
    var nextSerial: UInt64 = 1
    var usedBlockCount = 0
    var counters = KVCacheStats()
    /// Swap tier: sequences swapped out, and the tier's prefix cache (chain hash → slot,
    /// each slot's key, and the cached slots least recently stored first).
    var swapped: [SequenceID: SwappedSequence] = [:]
    var tierCached: [Int: Int32] = [:]
    var slotKeys: [PrefixBlockKey?]
    var tierLRU: BlockLRU
    /// The chain hash; replaceable (internally) so tests can force collisions.
    let chainHash: (_ parent: Int, _ tokens: ArraySlice<Int32>) -> Int

    /// Creates a manager over a fresh zeroed arena of `blockCount` blocks, all free.
    /// Preconditions: as `KVArena.init`. O(blockCount).
    /// `swapTier`, when given, must have slots of `layout.blockBytes`. With `recordingCopies`,
    /// the arena logs its copy-on-write copies (`KVArena.copyLog`).
    public convenience init(
        layout: PagedKVLayout, blockCount: Int, prefixCaching: Bool = true, swapTier: KVSwapTier? = nil,
        recordingCopies: Bool = false
    ) {
        self.init(
            layout: layout, blockCount: blockCount, prefixCaching: prefixCaching, swapTier: swapTier,
            recordingCopies: recordingCopies, chainHash: PrefixBlockKey.chain)
    }

    /// Creates a manager whose prefix cache files blocks under `chainHash` (tests pass a
    /// deliberately weak hash to check that collisions never share rows).
    init(
        layout: PagedKVLayout, blockCount: Int, prefixCaching: Bool, swapTier: KVSwapTier? = nil,
        recordingCopies: Bool = false, chainHash: @escaping (_ parent: Int, _ tokens: ArraySlice<Int32>) -> Int
    ) {
        precondition(swapTier.map { $0.slotBytes == layout.blockBytes } ?? true, "swap slots must hold one KV block")
        self.chainHash = chainHash
        self.swapTier = swapTier
        let slots = swapTier?.slotCount ?? 0
        slotKeys = Array(repeating: nil, count: slots)
        tierLRU = BlockLRU(capacity: slots)
        arena = KVArena(layout: layout, blockCount: blockCount, recordingCopies: recordingCopies)
        self.prefixCaching = prefixCaching
        refCounts = Array(repeating: 0, count: blockCount)
        // Reversed so allocations hand out low block ids first (only cosmetic).
        freeList = (0..<Int32(blockCount)).reversed()
        evictable = BlockLRU(capacity: blockCount)
        blockKeys = Array(repeating: nil, count: blockCount)
    }

    /// Creates a manager with as many blocks as fit in `bytes` (`bytes / layout.blockBytes`).
    /// Throws `KVCacheError.budgetTooSmall` (whose message gives the minimum) when not even
    /// one block fits, `.tooManyBlocks` when the count exceeds `Int32.max`.
    public convenience init(
        layout: PagedKVLayout, memoryBudget bytes: Int, prefixCaching: Bool = true
    ) throws(KVCacheError) {
        let count = bytes / layout.blockBytes
        guard count >= 1 else {
            throw .budgetTooSmall(budgetBytes: bytes, minimumBytes: layout.blockBytes)
        }
        guard count <= Int(Int32.max) else {
            throw .tooManyBlocks(requested: count, maximum: Int(Int32.max))
        }
        self.init(layout: layout, blockCount: count, prefixCaching: prefixCaching)
    }

    /// Token positions per block.
    public var blockSize: Int { arena.layout.blockSize }

    /// Tentative tokens a sequence's storage is sized for up front (more grow it once).
    static let tentativeCapacity = 32

    /// Starts a new high-water mark of used blocks (`KVCacheStats.peakUsedBlocks`) from now.
    public func resetPeakUsedBlocks() {
        counters.peakUsedBlocks = usedBlockCount
    }

    /// Current pool occupancy and cumulative counters. O(1).
    public var stats: KVCacheStats {
        var s = counters
        s.totalBlocks = arena.blockCount
        s.usedBlocks = usedBlockCount
        s.freeBlocks = freeList.count + evictable.count
        s.cachedBlocks = evictable.count
        if let swapTier {
            s.swapSlots = swapTier.slotCount
            s.swapSlotBytes = swapTier.slotBytes
            s.swapFreeSlots = swapTier.freeSlotCount
            s.swapCachedBlocks = tierLRU.count
            s.swappedSequences = swapped.count
        }
        return s
    }

    /// Whether `id` is registered (resident or swapped out). O(1).
    public func contains(_ id: SequenceID) -> Bool { sequences[id] != nil || swapped[id] != nil }

    /// Registers a new sequence holding `promptTokens` and gives it the cached blocks of the
    /// longest cached prefix of the prompt: full blocks only, and never the whole prompt (at
    /// least one prompt token is left to compute so the model produces logits). Returns how
    /// many leading prompt tokens are already computed: a multiple of `blockSize`, less than
    /// `promptTokens.count`. The caller then reserves slots for the rest with `appendSlots`.
    ///
    /// Never fails: reusing a cached arena block needs no free block (an evictable one is
    /// merely taken out of the LRU, which does lower `stats.freeBlocks`). With a swap tier the
    /// lookup continues into it past the arena: a hit there is read back into a newly
    /// allocated block (counted in `stats.prefixSwapHits`); the lookup stops at the first
    /// block that is in neither tier, when no block can be allocated, or when a read fails.
    /// `expectedLength` (tokens the sequence may reach) sizes its block list up front, so that
    /// appending tokens later does not grow it.
    /// Preconditions: `id` not registered; `promptTokens` not empty. O(prompt length).
    public func startSequence(_ id: SequenceID, promptTokens: [Int32], expectedLength: Int = 0) -> Int {
        precondition(!contains(id), "sequence \(id) is already registered")
        precondition(!promptTokens.isEmpty, "sequence \(id) needs at least one prompt token")
        counters.prefixQueries += promptTokens.count
        var state = SequenceState()
        let expectedBlocks = (max(expectedLength, promptTokens.count) + blockSize - 1) / blockSize
        state.blocks.reserveCapacity(min(expectedBlocks, refCounts.count))
        state.tail.reserveCapacity(blockSize + Self.tentativeCapacity)
        if prefixCaching {
            let size = blockSize
            let reusable = (promptTokens.count - 1) / size
            for index in 0..<reusable {
                let tokens = promptTokens[(index * size)..<((index + 1) * size)]
                let hash = chainHash(state.lastFullHash, tokens)
                let block: Int32
                if let cached = cachedBlock[hash],
                    blockKeys[Int(cached)]?.matches(parent: state.lastCached, tokens: tokens) == true
                {
                    retain(cached)
                    block = cached
                } else if let restored = restoreCachedBlock(hash: hash, parent: state.lastCached, tokens: tokens) {
                    block = restored
                } else {
                    break
                }
                state.blocks.append(block)
                state.lastFullHash = hash
                state.lastCached = blockKeys[Int(block)]!.serial
            }
            state.tokenCount = state.blocks.count * size
            state.settled = state.tokenCount
        }
        counters.prefixHits += state.tokenCount
        sequences[id] = state
        return state.tokenCount
    }

    /// Number of blocks `appendSlots(id, tokens:)` would take from the free pool for `count`
    /// more tokens: new blocks past the last one, plus one copy if the partly filled last
    /// block is shared. O(1). Precondition: `id` registered, `count >= 0`.
    public func blocksNeeded(_ id: SequenceID, appending count: Int) -> Int {
        guard let state = sequences[id] else { preconditionFailure("unknown sequence \(id)") }
        precondition(count >= 0, "negative token count")
        return blocksNeeded(state, appending: count)
    }

    /// Reserves slots for the sequence's next `tokens` (their ids are needed to hash blocks as
    /// they fill). Copies the last block first if it is partly filled and shared
    /// (copy-on-write through `arena.copyBlock`), allocates blocks as needed (free list
    /// first, then evicting unreferenced cached blocks LRU-first), and registers every block
    /// that becomes full in the prefix cache under the chain hash of (previous block's hash,
    /// its token ids). If an equal block (same tokens after the same cached parent) is
    /// already cached, the new one stays uncached and later blocks chain on from the cached
    /// one; after a hash collision with a different prefix, or once the parent was evicted,
    /// the sequence's later blocks are not cached (correctness never depends on the hash).
    ///
    /// The last `tentative` tokens (speculative proposals, not yet verified) are reserved
    /// but not final: blocks they fill are not cached until `commit(_:keeping:)` keeps them,
    /// and `commit` can give their slots back. Until then the sequence must not be forked,
    /// swapped out or reserved again.
    ///
    /// Token `i` of `tokens` then lives at position `p = tokenCount + i` (the count before the
    /// call): offset `p % blockSize` of block `blockTable(id)[p / blockSize]`.
    ///
    /// Returns false — changing nothing — when fewer than `blocksNeeded(id, appending:
    /// tokens.count)` blocks are free or evictable. Allocates nothing with prefix caching off
    /// once the sequence's arrays have grown (the engine's decode loop relies on this); with
    /// it on, each block that fills records its key.
    /// Precondition: `id` registered, `0 <= tentative <= tokens.count`.
    /// O(tokens.count + copies × blockBytes).
    public func reserveSlots(_ id: SequenceID, tokens: ArraySlice<Int32>, tentative: Int = 0) -> Bool {
        guard var state = sequences[id] else { preconditionFailure("unknown sequence \(id)") }
        precondition(tentative >= 0 && tentative <= tokens.count, "tentative tokens outside the reservation")
        let needed = blocksNeeded(state, appending: tokens.count)
        guard needed <= freeList.count + evictable.count else { return false }
        if tokens.isEmpty { return true }
        sequences[id] = nil  // Taken out so the arrays inside are mutated without copying.
        let size = blockSize
        if state.tokenCount % size != 0, let last = state.blocks.last, refCounts[Int(last)] > 1 {
            let copy = allocate()
            arena.copyBlock(from: last, to: copy)
            release(last)
            state.blocks[state.blocks.count - 1] = copy
            counters.copyOnWrites += 1
        }
        for token in tokens {
            if state.tokenCount % size == 0 { state.blocks.append(allocate()) }
            state.tail.append(token)
            state.tokenCount += 1
        }
        settle(&state, through: state.tokenCount - tentative)
        sequences[id] = state
        return true
    }

    /// Ends a tentative reservation (`reserveSlots(_:tokens:tentative:)`): keeps the first
    /// `count` reserved tokens, gives back the slots past them (blocks no longer needed are
    /// released; they were never cached), and registers the blocks the kept tokens fill in
    /// the prefix cache, so only verified tokens are ever cached. A no-op when `count` is the
    /// token count and nothing is tentative.
    /// Precondition: `id` registered and resident; `count` is at least the tokens before the
    /// tentative reservation and at most `tokenCount(id)`. O(tokens dropped + blocks filled).
    public func commit(_ id: SequenceID, keeping count: Int) {
        guard var state = sequences[id] else { preconditionFailure("unknown sequence \(id)") }
        precondition(count >= state.settled && count <= state.tokenCount, "commit outside the tentative tokens")
        sequences[id] = nil
        let size = blockSize
        state.tail.removeLast(state.tokenCount - count)
        state.tokenCount = count
        let keptBlocks = (count + size - 1) / size
        while state.blocks.count > keptBlocks { release(state.blocks.removeLast()) }
        settle(&state, through: count)
        sequences[id] = state
    }

    /// Offers every full block that ends at or before token `limit` and is not yet settled to
    /// the prefix cache, in order.
    private func settle(_ state: inout SequenceState, through limit: Int) {
        let size = blockSize
        while state.settled + size <= limit {
            blockFilled(state.blocks[state.settled / size], tokens: state.tail[0..<size], in: &state)
            state.tail.removeFirst(size)
            state.settled += size
        }
    }

    /// `reserveSlots`, returning one slot per token in order, or nil — changing nothing — when
    /// too few blocks are free or evictable. Precondition: `id` registered.
    public func appendSlots(_ id: SequenceID, tokens: [Int32]) -> [KVSlot]? {
        guard let first = sequences[id]?.tokenCount else { preconditionFailure("unknown sequence \(id)") }
        guard reserveSlots(id, tokens: tokens[...]) else { return nil }
        let blocks = sequences[id]!.blocks
        let size = blockSize
        return (first..<(first + tokens.count)).map { KVSlot(block: blocks[$0 / size], offset: Int32($0 % size)) }
    }

    /// Physical block ids of the sequence in logical order (what attention reads): token
    /// position `p` lives at offset `p % blockSize` of block `blockTable(id)[p / blockSize]`.
    /// Precondition: `id` registered. O(blocks).
    public func blockTable(_ id: SequenceID) -> [Int32] {
        guard let state = sequences[id] else { preconditionFailure("unknown sequence \(id)") }
        return state.blocks
    }

    /// Tokens whose slots were reserved so far (cached prefix + appended).
    /// Precondition: `id` registered. O(1).
    public func tokenCount(_ id: SequenceID) -> Int {
        guard let state = sequences[id] else { preconditionFailure("unknown sequence \(id)") }
        return state.tokenCount
    }

    /// Creates `child` sharing every block of `parent` (reference counts +1, nothing copied
    /// now); the partly filled last block is copied on the first append by either side.
    /// Preconditions: `parent` registered, `child` not. O(blocks).
    public func fork(_ parent: SequenceID, into child: SequenceID) {
        guard let state = sequences[parent] else { preconditionFailure("unknown sequence \(parent)") }
        precondition(!contains(child), "sequence \(child) is already registered")
        for block in state.blocks { retain(block) }
        sequences[child] = state
    }

    /// Releases the sequence's blocks (reference counts −1) and forgets it. A block reaching
    /// zero goes to the free list, or, if it is in the prefix cache, to the most recent end
    /// of the evictable LRU. Blocks are released last-to-first so that, among one sequence's
    /// blocks, the tail of the prefix is evicted before its head (the head is the part other
    /// prompts are likeliest to share). A swapped-out sequence gives back its swap slots and
    /// the shared blocks it kept. Precondition: `id` registered. O(blocks).
    public func free(_ id: SequenceID) {
        if let swappedOut = swapped.removeValue(forKey: id) {
            discard(swappedOut)
            return
        }
        guard let state = sequences.removeValue(forKey: id) else {
            preconditionFailure("unknown sequence \(id)")
        }
        for block in state.blocks.reversed() { release(block) }
    }

    /// `free`, for a sequence whose slots from token `position` on were reserved but never
    /// written (its forward pass failed): the blocks holding those positions leave the
    /// prefix cache first, so no later prompt reuses rows that were never computed. Blocks
    /// before `position` keep their cache entries. Precondition: `id` registered. O(blocks).
    public func free(_ id: SequenceID, unwrittenFrom position: Int) {
        guard let state = sequences[id] else { preconditionFailure("unknown sequence \(id)") }
        let first = min(max(0, position) / blockSize, state.blocks.count)
        for block in state.blocks[first...] { uncache(block) }
        free(id)
    }

    // MARK: - Block bookkeeping

    private func blocksNeeded(_ state: SequenceState, appending count: Int) -> Int {
        guard count > 0 else { return 0 }
        let size = blockSize
        let capacity = state.blocks.count * size
        let overflow = state.tokenCount + count - capacity
        var needed = overflow > 0 ? (overflow + size - 1) / size : 0
        if state.tokenCount % size != 0, let last = state.blocks.last, refCounts[Int(last)] > 1 {
            needed += 1
        }
        return needed
    }

    /// Takes a block for exclusive use (reference count 1): a free block if any, else the
    /// least recently used evictable one, whose prefix-cache entry is dropped. O(1).
    /// With a swap tier, the evicted block's rows and key move to the tier first, room
    /// permitting (`demoteToTier`). Precondition: the caller checked that one is available.
    func allocate() -> Int32 {
        let block: Int32
        if let free = freeList.popLast() {
            block = free
        } else if let victim = evictable.popFront() {
            if swapTier != nil { demoteToTier(victim) }
            uncache(victim)
            counters.evictions += 1
            block = victim
        } else {
            preconditionFailure("KV block pool exhausted; callers must check blocksNeeded first")
        }
        refCounts[Int(block)] = 1
        usedBlockCount += 1
        counters.peakUsedBlocks = max(counters.peakUsedBlocks, usedBlockCount)
        return block
    }

    /// Adds a reference; revives an evictable cached block. O(1).
    func retain(_ block: Int32) {
        let b = Int(block)
        if refCounts[b] == 0 {
            evictable.remove(block)
            usedBlockCount += 1
            counters.peakUsedBlocks = max(counters.peakUsedBlocks, usedBlockCount)
        }
        refCounts[b] += 1
    }

    /// Drops a reference; at zero the block becomes evictable (if cached) or free. O(1).
    func release(_ block: Int32) {
        let b = Int(block)
        precondition(refCounts[b] > 0, "releasing unreferenced block \(block)")
        refCounts[b] -= 1
        guard refCounts[b] == 0 else { return }
        usedBlockCount -= 1
        if blockKeys[b] != nil { evictable.pushBack(block) } else { freeList.append(block) }
    }

    /// Files the sequence's just-filled last block in the prefix cache, or, if a block with
    /// the same prefix is already cached, links the sequence to that one instead (the new
    /// block then stays uncached and is freed, not kept, when released). If the same prefix
    /// sits in the swap tier, the new block takes over that entry (and its serial, so the
    /// entry's children still chain to it) and the tier's copy is dropped.
    private func blockFilled(_ block: Int32, tokens: ArraySlice<Int32>, in state: inout SequenceState) {
        guard prefixCaching, state.linked else { return }
        if let parent = state.lastCached, !isLive(serial: parent, hash: state.lastFullHash) {
            state.linked = false  // the parent's rows were evicted: nothing can chain to it
            return
        }
        let hash = chainHash(state.lastFullHash, tokens)
        let serial: UInt64
        if let existing = cachedBlock[hash] {
            guard let key = blockKeys[Int(existing)], key.matches(parent: state.lastCached, tokens: tokens)
            else {
                state.linked = false  // hash collision with a different prefix
                return
            }
            serial = key.serial
        } else if let slot = tierCached[hash] {
            guard let key = slotKeys[Int(slot)], key.matches(parent: state.lastCached, tokens: tokens)
            else {
                state.linked = false  // hash collision with a different prefix
                return
            }
            dropTierEntry(slot)
            cachedBlock[hash] = block
            blockKeys[Int(block)] = key
            serial = key.serial
        } else {
            serial = nextSerial
            nextSerial += 1
            cachedBlock[hash] = block
            blockKeys[Int(block)] = PrefixBlockKey(
                hash: hash, serial: serial, parentHash: state.lastFullHash, parent: state.lastCached,
                tokens: Array(tokens))
        }
        state.lastFullHash = hash
        state.lastCached = serial
    }

    func uncache(_ block: Int32) {
        guard let key = blockKeys[Int(block)] else { return }
        cachedBlock[key.hash] = nil
        blockKeys[Int(block)] = nil
    }
}
