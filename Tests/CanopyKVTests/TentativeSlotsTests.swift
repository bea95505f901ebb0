import CanopyKV
import CanopyKernels
import Testing

/// Slots reserved for speculative proposals (`reserveSlots(_:tokens:tentative:)`) and their
/// commit: rejected proposals give their slots back and never reach the prefix cache.
@Suite("KV cache manager: tentative slots")
struct TentativeSlotsTests {
    let tokens: [Int32] = Array(100..<140)

    @Test("commit keeps the accepted tokens, frees the rest, and caches only kept full blocks")
    func commitKeepsAPrefix() throws {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 8)
        _ = kv.startSequence(1, promptTokens: Array(tokens[0..<6]))
        #expect(kv.reserveSlots(1, tokens: tokens[0..<6]))
        // The last real token (position 6) and 6 proposals (positions 7...12).
        #expect(kv.reserveSlots(1, tokens: tokens[6..<13], tentative: 6))
        #expect(kv.tokenCount(1) == 13 && kv.blockTable(1).count == 4)
        #expect(kv.invariantViolations().isEmpty)
        // Block 1 (positions 4...7) is full but holds a proposal: not cached yet.
        #expect(kv.startSequence(2, promptTokens: Array(tokens[0..<13])) == 4)
        kv.free(2)

        kv.commit(1, keeping: 9)  // two proposals accepted
        #expect(kv.tokenCount(1) == 9 && kv.blockTable(1).count == 3)
        #expect(kv.stats.usedBlocks == 3)
        #expect(kv.invariantViolations().isEmpty)
        #expect(kv.startSequence(3, promptTokens: Array(tokens[0..<13])) == 8)
        kv.free(3)

        kv.commit(1, keeping: 9)  // nothing tentative: no change
        #expect(kv.tokenCount(1) == 9)
        #expect(kv.reserveSlots(1, tokens: tokens[9..<12]))
        #expect(kv.startSequence(4, promptTokens: Array(tokens[0..<13])) == 12)
        kv.free(4)
        kv.free(1)
        #expect(kv.stats.usedBlocks == 0 && kv.invariantViolations().isEmpty)
    }

    @Test("rejected proposals leave no cache entry and no held block")
    func rejectedProposalsAreForgotten() throws {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 8)
        _ = kv.startSequence(1, promptTokens: Array(tokens[0..<3]))
        #expect(kv.reserveSlots(1, tokens: tokens[0..<3]))
        let wrong: [Int32] = [900, 901, 902, 903, 904, 905]
        #expect(kv.reserveSlots(1, tokens: ([tokens[3]] + wrong)[...], tentative: wrong.count))
        #expect(kv.stats.usedBlocks == 3)
        kv.commit(1, keeping: 4)  // every proposal rejected
        #expect(kv.tokenCount(1) == 4 && kv.stats.usedBlocks == 1)
        #expect(kv.invariantViolations().isEmpty)
        // The real block 0 is cached; nothing with the rejected tokens is.
        #expect(kv.startSequence(2, promptTokens: Array(tokens[0..<4]) + wrong + [7]) == 4)
        kv.free(2)
        kv.free(1)
        #expect(kv.stats.usedBlocks == 0 && kv.stats.cachedBlocks == 1 && kv.invariantViolations().isEmpty)
    }

    @Test("a tentative reservation on a fork copies the shared block and leaves the parent intact")
    func tentativeOnAFork() throws {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 8, prefixCaching: false)
        _ = kv.startSequence(1, promptTokens: Array(tokens[0..<6]))
        #expect(kv.reserveSlots(1, tokens: tokens[0..<6]))
        kv.fork(1, into: 2)
        let parentTable = kv.blockTable(1)
        #expect(kv.reserveSlots(2, tokens: tokens[6..<10], tentative: 3))
        #expect(kv.blockTable(2)[0] == parentTable[0] && kv.blockTable(2)[1] != parentTable[1])
        kv.commit(2, keeping: 7)
        #expect(kv.blockTable(1) == parentTable && kv.tokenCount(1) == 6)
        #expect(kv.tokenCount(2) == 7 && kv.blockTable(2).count == 2)
        #expect(kv.invariantViolations().isEmpty)
        kv.free(1)
        kv.free(2)
        #expect(kv.stats.usedBlocks == 0 && kv.invariantViolations().isEmpty)
    }
}
