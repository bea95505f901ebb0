/// A sequence whose exclusively owned blocks were written to the swap tier.
///
/// `state` is the sequence's record as it was when swapped out; `slots[i]` is the tier slot
/// holding block `i`'s rows, or -1 when block `i` stayed in the arena (it was shared, so
/// freeing it would have gained nothing) — then `state.blocks[i]` is that block, still
/// referenced by this sequence; otherwise `state.blocks[i]` is -1.
struct SwappedSequence {
    var state: SequenceState
    var slots: [Int32]
}

/// The swap tier: whole sequences swapped out and back in (preemption by swapping), and
/// the tier's share of the prefix cache.
///
/// Sharing rule: only blocks the sequence holds alone (reference count 1) are written out
/// and freed; blocks shared with other sequences (a common cached prefix, a fork's history)
/// stay in the arena, still referenced by the swapped-out sequence, since freeing its
/// reference would not free the block. So a swap never copies a block another sequence
/// reads, and swap-in restores exactly the blocks that left.
///
/// Precedence: a sequence swap-out may drop cached prefix blocks from the tier (least
/// recently stored first) to find room; a prefix block demoted from the arena only takes a
/// free slot or replaces the tier's oldest cached prefix block, never a sequence's slot.
extension KVCacheManager {
    /// Whether `id` is swapped out. O(1).
    public func isSwappedOut(_ id: SequenceID) -> Bool { swapped[id] != nil }

    /// Blocks `swapOut(id)` would write and free: those the resident sequence holds alone.
    /// 0 without a swap tier. Precondition: `id` registered and resident. O(blocks).
    public func swappableBlocks(_ id: SequenceID) -> Int {
        guard let state = sequences[id] else { preconditionFailure("unknown or swapped-out sequence \(id)") }
        guard swapTier != nil else { return 0 }
        return state.blocks.reduce(0) { $0 + (refCounts[Int($1)] == 1 ? 1 : 0) }
    }

    /// Blocks `swapIn(id)` needs from the free pool. Precondition: `id` swapped out. O(blocks).
    public func swapInBlocksNeeded(_ id: SequenceID) -> Int {
        guard let swappedOut = swapped[id] else { preconditionFailure("sequence \(id) is not swapped out") }
        return swappedOut.slots.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
    }

    /// Writes the sequence's exclusively owned blocks to the swap tier and frees them in the
    /// arena (a cached one becomes evictable, as on `free`); shared blocks stay referenced.
    /// The sequence stays registered, swapped out: `blockTable`, `tokenCount` and
    /// `reserveSlots` are not available until `swapIn`. Returns the bytes written.
    ///
    /// Throws, changing nothing, `.full` when the tier lacks the slots even after dropping
    /// its cached prefix blocks, and `.io` when a write fails (the caller then frees the
    /// sequence and recomputes it). Precondition: a swap tier; `id` registered and resident.
    /// O(blocks × blockBytes) plus the I/O.
    @discardableResult
    public func swapOut(_ id: SequenceID) throws(KVSwapError) -> Int {
        guard let tier = swapTier else { preconditionFailure("swapOut without a swap tier") }
        guard var state = sequences[id] else { preconditionFailure("unknown or swapped-out sequence \(id)") }
        let needed = swappableBlocks(id)
        guard needed <= tier.freeSlotCount + tierLRU.count else {
            throw .full(needed: needed, available: tier.freeSlotCount + tierLRU.count)
        }
        while tier.freeSlotCount < needed, let oldest = tierLRU.front { dropTierEntry(oldest) }
        var slots = [Int32](repeating: -1, count: state.blocks.count)
        for (index, block) in state.blocks.enumerated() where refCounts[Int(block)] == 1 {
            let slot = tier.takeSlot()!
            slots[index] = slot
            do {
                try tier.write(slot: slot, from: arena.blockPointer(block))
            } catch {
                for taken in slots where taken >= 0 { tier.returnSlot(taken) }
                counters.swapFailures += 1
                throw error
            }
        }
        // Released last-to-first, like `free`, so a cached head outlives its tail.
        for index in state.blocks.indices.reversed() where slots[index] >= 0 {
            release(state.blocks[index])
            state.blocks[index] = -1
        }
        sequences[id] = nil
        swapped[id] = SwappedSequence(state: state, slots: slots)
        counters.swapOutBlocks += needed
        return needed * tier.slotBytes
    }

    /// Reads a swapped-out sequence's blocks back into newly allocated blocks and makes it
    /// resident again, exactly as it was (same token count and rows). Returns the bytes
    /// read, or nil — changing nothing — when fewer than `swapInBlocksNeeded(id)` blocks are
    /// free or evictable.
    ///
    /// Throws `.io` when a read fails: the sequence's swapped rows are then lost, so it is
    /// freed entirely (no longer registered; every slot and block it held given back) and
    /// the caller recomputes it. Precondition: `id` swapped out.
    /// O(blocks × blockBytes) plus the I/O.
    public func swapIn(_ id: SequenceID) throws(KVSwapError) -> Int? {
        guard let tier = swapTier, var swappedOut = swapped[id] else {
            preconditionFailure("sequence \(id) is not swapped out")
        }
        let needed = swapInBlocksNeeded(id)
        guard needed <= freeList.count + evictable.count else { return nil }
        swapped[id] = nil
        for index in swappedOut.slots.indices where swappedOut.slots[index] >= 0 {
            let block = allocate()
            swappedOut.state.blocks[index] = block
            do {
                try tier.read(slot: swappedOut.slots[index], into: arena.blockPointer(block))
            } catch {
                counters.swapFailures += 1
                discard(swappedOut)
                throw error
            }
            tier.returnSlot(swappedOut.slots[index])
            swappedOut.slots[index] = -1
        }
        sequences[id] = swappedOut.state
        counters.swapInBlocks += needed
        return needed * tier.slotBytes
    }

    /// Gives back everything a (partly) swapped-out sequence holds: its arena blocks (those
    /// kept, and those already read back) and its slots.
    func discard(_ swappedOut: SwappedSequence) {
        for index in swappedOut.slots.indices.reversed() {
            if swappedOut.slots[index] >= 0 { swapTier!.returnSlot(swappedOut.slots[index]) }
            if swappedOut.state.blocks[index] >= 0 { release(swappedOut.state.blocks[index]) }
        }
    }

    // MARK: - The tier's prefix cache

    /// Whether the cache entry `serial`, filed under `hash`, is still in either tier. O(1).
    func isLive(serial: UInt64, hash: Int) -> Bool {
        if let block = cachedBlock[hash], blockKeys[Int(block)]?.serial == serial { return true }
        if let slot = tierCached[hash], slotKeys[Int(slot)]?.serial == serial { return true }
        return false
    }

    /// Moves an evicted cached block's rows and key into the tier: into a free slot, or
    /// over the tier's oldest cached prefix block. Without room (every slot held by swapped
    /// sequences) or after a failed write, the block is simply forgotten, as without a tier.
    func demoteToTier(_ block: Int32) {
        guard let tier = swapTier, let key = blockKeys[Int(block)] else { return }
        if tier.freeSlotCount == 0, let oldest = tierLRU.front { dropTierEntry(oldest) }
        guard let slot = tier.takeSlot() else { return }
        do {
            try tier.write(slot: slot, from: arena.blockPointer(block))
        } catch {
            tier.returnSlot(slot)
            counters.swapFailures += 1
            return
        }
        slotKeys[Int(slot)] = key
        tierCached[key.hash] = slot
        tierLRU.pushBack(slot)
        counters.swapOutBlocks += 1
    }

    /// The tier's cached block filed under `hash` for (`parent`, `tokens`), read back into a
    /// newly allocated arena block (reference count 1) that takes over the entry, key and
    /// serial; nil when the tier has no such entry, the arena files another block under
    /// `hash` (a collision), no block can be allocated, or the read fails (the entry is then
    /// dropped).
    func restoreCachedBlock(hash: Int, parent: UInt64?, tokens: ArraySlice<Int32>) -> Int32? {
        guard let tier = swapTier, let slot = tierCached[hash], let key = slotKeys[Int(slot)],
            key.matches(parent: parent, tokens: tokens), cachedBlock[hash] == nil,
            freeList.count + evictable.count > 0
        else { return nil }
        // Out of the tier's index first, so the allocation below cannot demote over it.
        tierCached[hash] = nil
        slotKeys[Int(slot)] = nil
        tierLRU.remove(slot)
        let block = allocate()
        do {
            try tier.read(slot: slot, into: arena.blockPointer(block))
        } catch {
            tier.returnSlot(slot)
            release(block)  // uncached: back to the free list
            counters.swapFailures += 1
            return nil
        }
        tier.returnSlot(slot)
        cachedBlock[hash] = block
        blockKeys[Int(block)] = key
        counters.swapInBlocks += 1
        counters.prefixSwapHits += 1
        return block
    }

    /// Drops one cached prefix block from the tier and frees its slot.
    func dropTierEntry(_ slot: Int32) {
        guard let key = slotKeys[Int(slot)] else { preconditionFailure("swap slot \(slot) holds no prefix block") }
        tierCached[key.hash] = nil
        slotKeys[Int(slot)] = nil
        tierLRU.remove(slot)
        swapTier!.returnSlot(slot)
    }
}
