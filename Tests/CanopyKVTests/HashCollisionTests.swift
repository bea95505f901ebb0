import CanopyKernels
import Testing

@testable import CanopyKV

/// A deliberately weak chain hash (any two blocks with equal token sums after equal parent
/// hashes collide), to check that collisions cost hits but never share wrong rows.
func sumHash(_ parent: Int, _ tokens: ArraySlice<Int32>) -> Int {
    parent &* 31 &+ Int(tokens.reduce(0, &+))
}

@Suite("KV cache manager: hash collisions never share rows")
struct HashCollisionTests {
    func run(_ kv: KVCacheManager, _ id: SequenceID, _ prompt: [Int32]) -> Int {
        let cached = kv.startSequence(id, promptTokens: prompt)
        #expect(kv.appendAndWrite(id, tokens: Array(prompt[cached...]), allTokens: prompt))
        return cached
    }

    @Test("a colliding block is a miss, even with every hash equal")
    func constantHash() {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 16, prefixCaching: true, chainHash: { _, _ in 42 })
        #expect(run(kv, 1, [1, 2, 3, 4, 5]) == 0)
        #expect(run(kv, 2, [9, 9, 9, 9, 5]) == 0)
        #expect(kv.startSequence(3, promptTokens: [1, 2, 3, 4, 7]) == 4)
        #expect(kv.mismatchedPositions(3, tokens: [1, 2, 3, 4, 7], count: 4).isEmpty)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("a block whose parent merely hashes like ours is not reused")
    func collidingParent() {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 16, prefixCaching: true, chainHash: sumHash)
        // [1,2,3,4] and [2,1,3,4] collide; B's next block has the same parent hash as the
        // block after A's first one would, but holds rows computed after B's prefix.
        #expect(run(kv, 1, [1, 2, 3, 4, 5]) == 0)
        #expect(run(kv, 2, [2, 1, 3, 4, 9, 9, 9, 9, 5]) == 0)
        let probe: [Int32] = [1, 2, 3, 4, 9, 9, 9, 9, 5]
        #expect(kv.startSequence(3, promptTokens: probe) == 4)
        #expect(kv.mismatchedPositions(3, tokens: probe, count: 4).isEmpty)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("a block chained to an evicted parent does not follow the parent's recycled id")
    func recycledParent() {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 3, prefixCaching: true, chainHash: sumHash)
        #expect(run(kv, 1, [1, 2, 3, 4, 5]) == 0)  // caches P = [1,2,3,4] in block 0
        kv.free(1)  // P evictable; blocks 1, 2 free
        // E recomputes P in its own block (P stays the cached copy), then decodes a block
        // that is cached with parent P.
        #expect(run(kv, 2, [1, 2, 3, 4]) == 0)
        #expect(kv.appendAndWrite(2, tokens: [9, 9, 9, 9], allTokens: [1, 2, 3, 4, 9, 9, 9, 9]))
        #expect(kv.stats.freeBlocks == 1 && kv.stats.cachedBlocks == 1)
        // F evicts P and caches [4,3,2,1] (same hash) in P's old block.
        #expect(run(kv, 3, [4, 3, 2, 1]) == 0)
        #expect(kv.stats.evictions == 1)
        kv.free(3)
        // The probe's first block is F's; E's [9,9,9,9] block was computed after [1,2,3,4].
        let probe: [Int32] = [4, 3, 2, 1, 9, 9, 9, 9, 5]
        #expect(kv.startSequence(4, promptTokens: probe) == 4)
        #expect(kv.mismatchedPositions(4, tokens: probe, count: 4).isEmpty)
        #expect(kv.invariantViolations().isEmpty)
    }
}
