extension KVCacheManager {
    /// Checks every structural invariant and returns a description of each violation (empty
    /// when all hold):
    /// - each block's reference count equals the number of block-table entries naming it;
    /// - every block is exactly one of referenced, free-listed or evictable (no block twice
    ///   in the free list, LRU links consistent), and the used-block counter matches;
    /// - free blocks are uncached, evictable blocks are cached;
    /// - each prefix-cache entry (arena or swap tier) points to a block or slot whose
    ///   recorded key has that hash, whose tokens re-hash (with the recorded parent hash) to
    ///   it and fill a whole block, and whose recorded parent serial is older than its own;
    ///   serials are unique over both tiers and a hash is filed in at most one tier; every
    ///   cached block sits only at full positions of the tables that reference it;
    /// - each sequence (resident or swapped out) holds `ceil(tokenCount / blockSize)` blocks
    ///   and the ids of the tokens past its settled blocks; only settled blocks are cached; a swapped-out sequence's kept (shared)
    ///   blocks count as references; `stats.usedBlocks + stats.freeBlocks ==
    ///   stats.totalBlocks`;
    /// - every swap slot is exactly one of free, a cached prefix block (in the tier's LRU
    ///   list), or held by exactly one swapped-out sequence (none leaked).
    ///
    /// Cost O(blocks + slots + block-table entries + cached tokens): for tests and debug checks.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        let total = arena.blockCount
        let size = blockSize

        var references = [Int](repeating: 0, count: total)
        let swappedStates = swapped.map { ($0.key, $0.value.state) }
        for (id, state) in sequences.map({ ($0.key, $0.value) }) + swappedStates {
            let expectedBlocks = (state.tokenCount + size - 1) / size
            if state.blocks.count != expectedBlocks {
                problems.append("sequence \(id): \(state.blocks.count) blocks for \(state.tokenCount) tokens")
            }
            if state.settled % size != 0 || state.settled > state.tokenCount
                || state.tail.count != state.tokenCount - state.settled
            {
                problems.append(
                    "sequence \(id): \(state.tail.count) tail tokens, \(state.settled) settled, for \(state.tokenCount) tokens")
            }
            let fullBlocks = state.settled / size
            for (index, block) in state.blocks.enumerated() {
                if block == -1, let slot = swapped[id]?.slots[index], slot >= 0 { continue }
                guard block >= 0, Int(block) < total else {
                    problems.append("sequence \(id): block id \(block) out of range")
                    continue
                }
                references[Int(block)] += 1
                if index >= fullBlocks, blockKeys[Int(block)] != nil {
                    problems.append("sequence \(id): cached block \(block) at partly filled index \(index)")
                }
            }
        }

        // 0 = unseen, 1 = free list, 2 = evictable.
        var placement = [UInt8](repeating: 0, count: total)
        for block in freeList {
            let b = Int(block)
            guard b >= 0, b < total else {
                problems.append("free list holds out-of-range block \(block)")
                continue
            }
            if placement[b] != 0 { problems.append("block \(block) is in the free list twice") }
            placement[b] = 1
            if blockKeys[b] != nil { problems.append("free block \(block) is still in the prefix cache") }
        }
        let (lruOrder, lruProblem) = evictable.auditedOrder()
        if let lruProblem { problems.append(lruProblem) }
        for block in lruOrder {
            let b = Int(block)
            if placement[b] != 0 { problems.append("block \(block) is both free-listed and evictable") }
            placement[b] = 2
            if blockKeys[b] == nil { problems.append("evictable block \(block) is not in the prefix cache") }
        }

        var referenced = 0
        for b in 0..<total {
            if Int(refCounts[b]) != references[b] {
                problems.append("block \(b): ref count \(refCounts[b]) but \(references[b]) table references")
            }
            if refCounts[b] > 0 {
                referenced += 1
                if placement[b] != 0 { problems.append("referenced block \(b) is also free or evictable") }
            } else if placement[b] == 0 {
                problems.append("unreferenced block \(b) is neither free nor evictable (leaked)")
            }
        }
        if referenced != usedBlockCount {
            problems.append("used-block counter \(usedBlockCount) but \(referenced) blocks referenced")
        }

        var serials = Set<UInt64>()
        func checkEntry(_ key: PrefixBlockKey, hash: Int, _ place: String) {
            if key.hash != hash { problems.append("prefix hash \(hash) points to \(place) filed as \(key.hash)") }
            if key.tokens.count != size { problems.append("cached \(place) records \(key.tokens.count) tokens") }
            if chainHash(key.parentHash, key.tokens[...]) != hash {
                problems.append("cached \(place): recorded tokens do not hash to \(hash)")
            }
            if !serials.insert(key.serial).inserted { problems.append("cached \(place): serial \(key.serial) filed twice") }
            if key.serial >= nextSerial { problems.append("cached \(place): serial \(key.serial) not handed out yet") }
            if let parent = key.parent {
                if parent >= key.serial { problems.append("cached \(place): parent serial \(parent) is not older") }
            } else if key.parentHash != PrefixBlockKey.root {
                problems.append("cached \(place): no parent but parent hash \(key.parentHash)")
            }
        }
        for (hash, block) in cachedBlock {
            guard block >= 0, Int(block) < total, let key = blockKeys[Int(block)] else {
                problems.append("prefix hash \(hash) points to block \(block) with no recorded key")
                continue
            }
            checkEntry(key, hash: hash, "block \(block)")
            if tierCached[hash] != nil { problems.append("prefix hash \(hash) is filed in both tiers") }
        }
        for b in 0..<total {
            if let key = blockKeys[b], cachedBlock[key.hash] != Int32(b) {
                problems.append("block \(b) records hash \(key.hash) but the cache does not point to it")
            }
        }
        if !prefixCaching, !cachedBlock.isEmpty {
            problems.append("prefix caching is off but \(cachedBlock.count) blocks are cached")
        }

        problems += swapTierViolations(checkEntry: { checkEntry($0, hash: $1, $2) })

        let s = stats
        if s.usedBlocks + s.freeBlocks != s.totalBlocks {
            problems.append("stats: used \(s.usedBlocks) + free \(s.freeBlocks) != total \(s.totalBlocks)")
        }
        if s.swapFreeSlots + s.swapCachedBlocks > s.swapSlots {
            problems.append("stats: swap free \(s.swapFreeSlots) + cached \(s.swapCachedBlocks) > slots \(s.swapSlots)")
        }
        return problems
    }

    /// The swap tier's share of `invariantViolations()`: slot accounting, its prefix index,
    /// and swapped-out sequences' records.
    private func swapTierViolations(checkEntry: (PrefixBlockKey, Int, String) -> Void) -> [String] {
        var problems: [String] = []
        guard let tier = swapTier else {
            if !swapped.isEmpty { problems.append("\(swapped.count) sequences swapped out without a swap tier") }
            if !tierCached.isEmpty { problems.append("\(tierCached.count) prefix blocks in a swap tier that does not exist") }
            return problems
        }
        let slots = tier.slotCount
        // 0 = unseen, 1 = free, 2 = cached prefix block, 3 = held by a swapped-out sequence.
        var placement = [UInt8](repeating: 0, count: slots)
        func place(_ slot: Int32, _ kind: UInt8, _ what: String) {
            guard slot >= 0, Int(slot) < slots else {
                problems.append("\(what) names out-of-range swap slot \(slot)")
                return
            }
            if placement[Int(slot)] != 0 { problems.append("swap slot \(slot) is used twice (\(what))") }
            placement[Int(slot)] = kind
        }
        for slot in tier.freeSlots {
            place(slot, 1, "free list")
            if slotKeys[Int(slot)] != nil { problems.append("free swap slot \(slot) still holds a prefix key") }
        }
        let (order, lruProblem) = tierLRU.auditedOrder()
        if let lruProblem { problems.append("swap tier " + lruProblem) }
        for slot in order {
            place(slot, 2, "prefix LRU")
            guard let key = slotKeys[Int(slot)] else {
                problems.append("swap slot \(slot) is in the prefix LRU without a key")
                continue
            }
            if tierCached[key.hash] != slot { problems.append("swap slot \(slot) records hash \(key.hash) but the tier does not point to it") }
        }
        for (hash, slot) in tierCached {
            guard slot >= 0, Int(slot) < slots, let key = slotKeys[Int(slot)] else {
                problems.append("tier prefix hash \(hash) points to slot \(slot) with no recorded key")
                continue
            }
            checkEntry(key, hash, "swap slot \(slot)")
            if !tierLRU.contains(slot) { problems.append("tier prefix slot \(slot) is not in the tier's LRU") }
        }
        for (id, swappedOut) in swapped {
            if sequences[id] != nil { problems.append("sequence \(id) is both resident and swapped out") }
            if swappedOut.slots.count != swappedOut.state.blocks.count {
                problems.append("swapped sequence \(id): \(swappedOut.slots.count) slots for \(swappedOut.state.blocks.count) blocks")
                continue
            }
            for (index, slot) in swappedOut.slots.enumerated() {
                let block = swappedOut.state.blocks[index]
                if slot >= 0 {
                    place(slot, 3, "swapped sequence \(id)")
                    if block != -1 { problems.append("swapped sequence \(id): block \(index) both in slot \(slot) and block \(block)") }
                    if slotKeys[Int(slot)] != nil { problems.append("swap slot \(slot) of sequence \(id) holds a prefix key") }
                } else if block < 0 {
                    problems.append("swapped sequence \(id): block \(index) is neither in the arena nor in a slot")
                }
            }
        }
        for slot in 0..<slots where placement[slot] == 0 {
            problems.append("swap slot \(slot) is neither free, cached nor held (leaked)")
        }
        return problems
    }
}
