import CanopyKV
import CanopyKernels
import Testing

@Suite("KV cache manager: prefix caching and eviction")
struct PrefixCacheTests {
    /// Starts `id` with `prompt`, reserves and writes the uncached rest; returns the number
    /// of prompt tokens served from the cache.
    @discardableResult
    func run(_ kv: KVCacheManager, _ id: SequenceID, _ prompt: [Int32]) -> Int {
        let cached = kv.startSequence(id, promptTokens: prompt)
        let ok = kv.appendAndWrite(id, tokens: Array(prompt[cached...]), allTokens: prompt)
        #expect(ok, "sequence \(id) ran out of blocks")
        return cached
    }

    let shared: [Int32] = Array(500..<520)

    @Test("only full blocks of a matching prefix are reused, and their rows are the cached ones")
    func fullBlocksOnly() {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 16)
        let first = Array(shared[0..<10])  // blocks: 4 + 4 full, 2 partial
        #expect(run(kv, 1, first) == 0)
        let second = Array(shared[0..<10]) + [1, 2, 3]
        #expect(kv.startSequence(2, promptTokens: second) == 8)
        #expect(Array(kv.blockTable(2)) == Array(kv.blockTable(1)[0..<2]))
        #expect(kv.mismatchedPositions(2, tokens: second, count: 8).isEmpty)
        #expect(kv.stats.prefixQueries == 23 && kv.stats.prefixHits == 8)
        #expect(kv.stats.usedBlocks == 3, "cached blocks are shared, not copied")
        #expect(kv.invariantViolations().isEmpty)
        // A prompt that differs inside the second block only reuses the first.
        var third = second
        third[5] = 9999
        #expect(kv.startSequence(3, promptTokens: third) == 4)
        // Same tokens at a different offset (a different prefix) share nothing.
        #expect(kv.startSequence(4, promptTokens: [0] + second) == 0)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("never the whole prompt: at least one token is left to compute")
    func neverWholePrompt() {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 16)
        run(kv, 1, Array(shared[0..<12]))
        kv.free(1)
        #expect(kv.startSequence(2, promptTokens: Array(shared[0..<12])) == 8)
        #expect(kv.startSequence(3, promptTokens: Array(shared[0..<9])) == 8)
        #expect(kv.startSequence(4, promptTokens: Array(shared[0..<8])) == 4)
        #expect(kv.startSequence(5, promptTokens: Array(shared[0..<4])) == 0)
        #expect(kv.startSequence(6, promptTokens: Array(shared[0..<1])) == 0)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("freed cached blocks stay evictable and revive on a hit")
    func revive() {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 16)
        run(kv, 1, Array(shared[0..<9]))
        kv.free(1)
        let s = kv.stats
        #expect(s.usedBlocks == 0 && s.cachedBlocks == 2 && s.freeBlocks == 16)
        #expect(kv.startSequence(2, promptTokens: Array(shared[0..<9])) == 8)
        #expect(kv.stats.cachedBlocks == 0 && kv.stats.usedBlocks == 2)
        #expect(kv.mismatchedPositions(2, tokens: Array(shared[0..<9]), count: 8).isEmpty)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("blocks filled by decoding are cached for the next turn")
    func decodeBlocksCached() {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 16)
        var history: [Int32] = [1, 2, 3]
        run(kv, 1, history)
        for token: Int32 in 10..<17 {  // decode one token at a time
            history.append(token)
            #expect(kv.appendAndWrite(1, tokens: [token], allTokens: history))
        }
        kv.free(1)
        let nextTurn = history + [42, 43]
        #expect(kv.startSequence(2, promptTokens: nextTurn) == 8)
        #expect(kv.mismatchedPositions(2, tokens: nextTurn, count: 8).isEmpty)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("with prefix caching off nothing is cached or reused")
    func disabled() {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 16, prefixCaching: false)
        run(kv, 1, Array(shared[0..<12]))
        kv.free(1)
        #expect(kv.stats.cachedBlocks == 0)
        #expect(kv.startSequence(2, promptTokens: Array(shared[0..<12])) == 0)
        #expect(kv.stats.prefixHits == 0 && kv.stats.prefixQueries == 24)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("free blocks are used before evicting, then cached blocks go least recently used first")
    func lruOrder() {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 6)
        let a: [Int32] = Array(100..<109), b: [Int32] = Array(200..<209)  // 2 full + 1 partial
        run(kv, 1, a)
        run(kv, 2, b)
        kv.free(1)  // a's blocks become evictable first (older)
        kv.free(2)
        #expect(kv.stats.cachedBlocks == 4 && kv.stats.freeBlocks == 6)
        // 2 truly free blocks (the partial ones) go first: no eviction.
        run(kv, 3, Array(300..<308))
        #expect(kv.stats.evictions == 0)
        // One more block evicts the least recently released: a's tail block (a's blocks were
        // released before b's, and each sequence releases its tail before its head).
        run(kv, 4, Array(400..<404))
        #expect(kv.stats.evictions == 1)
        #expect(kv.startSequence(5, promptTokens: a) == 4, "a's first block survives, its second was evicted")
        kv.free(5)  // revived block released again: now the most recent
        run(kv, 6, Array(600..<604))  // one more block: evicts b's second block (oldest now)
        #expect(kv.stats.evictions == 2)
        #expect(kv.startSequence(7, promptTokens: b) == 4)
        #expect(kv.startSequence(8, promptTokens: a) == 4)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("evicted blocks no longer hit, and their reuse is not mistaken for the old prefix")
    func evictedHashesMiss() {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 3)
        let a: [Int32] = Array(100..<109)
        run(kv, 1, a)
        kv.free(1)
        run(kv, 2, Array(700..<712))  // takes all 3 blocks: both cached blocks evicted
        #expect(kv.stats.evictions == 2)
        kv.free(2)
        #expect(kv.startSequence(3, promptTokens: a) == 0)
        #expect(kv.startSequence(4, promptTokens: Array(700..<712)) == 8)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("a block in use by a running sequence is shared by a new one")
    func shareRunning() {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 8)
        let prompt = Array(shared[0..<6])
        run(kv, 1, prompt)
        #expect(kv.startSequence(2, promptTokens: prompt + [7]) == 4)
        #expect(kv.blockTable(2) == [kv.blockTable(1)[0]])
        #expect(kv.appendAndWrite(2, tokens: Array(prompt[4...]) + [7], allTokens: prompt + [7]))
        #expect(kv.stats.usedBlocks == 3)
        kv.free(1)
        #expect(kv.stats.cachedBlocks == 0, "still referenced by sequence 2")
        #expect(kv.mismatchedPositions(2, tokens: prompt + [7]).isEmpty)
        #expect(kv.invariantViolations().isEmpty)
    }
}
