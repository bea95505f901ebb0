extension KVCacheManager {
    /// Checks every structural invariant and returns a description of each violation (empty
    /// when all hold):
    /// - each block's reference count equals the number of block-table entries naming it;
    /// - every block is exactly one of referenced, free-listed or evictable (no block twice
    ///   in the free list, LRU links consistent), and the used-block counter matches;
    /// - free blocks are uncached, evictable blocks are cached;
    /// - each prefix-cache entry points to a block whose recorded key has that hash, whose
    ///   tokens re-hash (with the recorded parent hash) to it and fill a whole block, and whose
    ///   recorded parent, unless since evicted, is filed under that parent hash; every cached
    ///   block sits only at full positions of the tables that reference it;
    /// - each sequence holds `ceil(tokenCount / blockSize)` blocks and the ids of its partly
    ///   filled block; `stats.usedBlocks + stats.freeBlocks == stats.totalBlocks`.
    ///
    /// Cost O(blocks + block-table entries + cached tokens): for tests and debug checks.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        let total = arena.blockCount
        let size = blockSize

        var references = [Int](repeating: 0, count: total)
        for (id, state) in sequences {
            let expectedBlocks = (state.tokenCount + size - 1) / size
            if state.blocks.count != expectedBlocks {
                problems.append("sequence \(id): \(state.blocks.count) blocks for \(state.tokenCount) tokens")
            }
            if state.tail.count != state.tokenCount % size {
                problems.append("sequence \(id): \(state.tail.count) tail tokens for \(state.tokenCount) tokens")
            }
            let fullBlocks = state.tokenCount / size
            for (index, block) in state.blocks.enumerated() {
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

        for (hash, block) in cachedBlock {
            guard block >= 0, Int(block) < total, let key = blockKeys[Int(block)] else {
                problems.append("prefix hash \(hash) points to block \(block) with no recorded key")
                continue
            }
            if key.hash != hash { problems.append("prefix hash \(hash) points to block \(block) filed as \(key.hash)") }
            if key.tokens.count != size { problems.append("cached block \(block) records \(key.tokens.count) tokens") }
            if chainHash(key.parentHash, key.tokens[...]) != hash {
                problems.append("cached block \(block): recorded tokens do not hash to \(hash)")
            }
            if let parent = key.parent {
                if generations[Int(parent.block)] == parent.generation,
                    blockKeys[Int(parent.block)]?.hash != key.parentHash
                {
                    problems.append("cached block \(block): live parent \(parent.block) is not filed under its parent hash")
                }
            } else if key.parentHash != PrefixBlockKey.root {
                problems.append("cached block \(block): no parent block but parent hash \(key.parentHash)")
            }
        }
        for b in 0..<total {
            if let key = blockKeys[b], cachedBlock[key.hash] != Int32(b) {
                problems.append("block \(b) records hash \(key.hash) but the cache does not point to it")
            }
        }
        if !prefixCaching, !cachedBlock.isEmpty {
            problems.append("prefix caching is off but \(cachedBlock.count) blocks are cached")
        }

        let s = stats
        if s.usedBlocks + s.freeBlocks != s.totalBlocks {
            problems.append("stats: used \(s.usedBlocks) + free \(s.freeBlocks) != total \(s.totalBlocks)")
        }
        return problems
    }
}
