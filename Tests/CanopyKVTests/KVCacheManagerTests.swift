import CanopyKV
import CanopyKernels
import Testing

@Suite("KV cache manager: allocation, fork, copy-on-write, budget")
struct KVCacheManagerTests {
    let tokens: [Int32] = Array(100..<140)

    @Test("append reserves consecutive slots, allocating a block every blockSize tokens")
    func appendSlots() throws {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 8)
        #expect(kv.startSequence(1, promptTokens: Array(tokens[0..<6])) == 0)
        #expect(kv.contains(1) && !kv.contains(2))
        #expect(kv.tokenCount(1) == 0 && kv.blockTable(1).isEmpty)
        #expect(kv.blocksNeeded(1, appending: 6) == 2)
        let slots = try #require(kv.appendSlots(1, tokens: Array(tokens[0..<6])))
        let table = kv.blockTable(1)
        #expect(table.count == 2 && Set(table).count == 2)
        #expect(slots == (0..<6).map { KVSlot(block: table[$0 / 4], offset: Int32($0 % 4)) })
        #expect(kv.tokenCount(1) == 6)
        #expect(kv.blocksNeeded(1, appending: 2) == 0)
        #expect(kv.blocksNeeded(1, appending: 3) == 1)
        #expect(kv.blocksNeeded(1, appending: 0) == 0)
        #expect(kv.appendSlots(1, tokens: []) == [])
        let s = kv.stats
        #expect(s.totalBlocks == 8 && s.usedBlocks == 2 && s.freeBlocks == 6)
        #expect(kv.invariantViolations().isEmpty)
        kv.free(1)
        #expect(!kv.contains(1))
        #expect(kv.stats.usedBlocks == 0 && kv.stats.freeBlocks == 8)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("the peak of used blocks is the most held at once until reset")
    func peakUsedBlocks() throws {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 8, prefixCaching: false)
        _ = kv.startSequence(1, promptTokens: Array(tokens[0..<10]))
        _ = try #require(kv.appendSlots(1, tokens: Array(tokens[0..<10])))
        _ = kv.startSequence(2, promptTokens: Array(tokens[0..<4]))
        _ = try #require(kv.appendSlots(2, tokens: Array(tokens[0..<4])))
        #expect(kv.stats.usedBlocks == 4 && kv.stats.peakUsedBlocks == 4)
        kv.free(1)
        #expect(kv.stats.usedBlocks == 1 && kv.stats.peakUsedBlocks == 4)
        kv.resetPeakUsedBlocks()
        #expect(kv.stats.peakUsedBlocks == 1)
        kv.free(2)
        #expect(kv.stats.peakUsedBlocks == 1 && kv.invariantViolations().isEmpty)
    }

    @Test("fork shares every block; the first append on either side copies the shared partial block")
    func forkCopyOnWrite() throws {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 8)
        let prompt = Array(tokens[0..<6])
        _ = kv.startSequence(1, promptTokens: prompt)
        #expect(kv.appendAndWrite(1, tokens: prompt, allTokens: prompt))
        kv.fork(1, into: 2)
        #expect(kv.blockTable(2) == kv.blockTable(1))
        #expect(kv.tokenCount(2) == 6)
        #expect(kv.stats.usedBlocks == 2)
        #expect(kv.invariantViolations().isEmpty)

        // The child appends first: it needs a copy of the shared partial block.
        #expect(kv.blocksNeeded(2, appending: 1) == 1)
        let child = prompt + [7]
        #expect(kv.appendAndWrite(2, tokens: [7], allTokens: child))
        #expect(kv.stats.copyOnWrites == 1)
        let parentTable = kv.blockTable(1), childTable = kv.blockTable(2)
        #expect(parentTable[0] == childTable[0], "the full block stays shared")
        #expect(parentTable[1] != childTable[1], "the partial block was copied")
        // Now the parent holds its partial block alone: no copy on its append.
        #expect(kv.blocksNeeded(1, appending: 1) == 0)
        let parent = prompt + [9]
        #expect(kv.appendAndWrite(1, tokens: [9], allTokens: parent))
        #expect(kv.stats.copyOnWrites == 1)
        #expect(kv.blockTable(1) == parentTable)

        // Copied rows (positions 4, 5) and each side's own row 6 read back per sequence.
        #expect(kv.mismatchedPositions(1, tokens: parent).isEmpty)
        #expect(kv.mismatchedPositions(2, tokens: child).isEmpty)
        #expect(kv.invariantViolations().isEmpty)
        kv.free(1)
        #expect(kv.mismatchedPositions(2, tokens: child).isEmpty)
        kv.free(2)
        #expect(kv.stats.usedBlocks == 0)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("forking at a block boundary needs no copy: full blocks are never written again")
    func forkAtBoundary() throws {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 8)
        let prompt = Array(tokens[0..<8])
        _ = kv.startSequence(1, promptTokens: prompt)
        #expect(kv.appendAndWrite(1, tokens: prompt, allTokens: prompt))
        kv.fork(1, into: 2)
        #expect(kv.blocksNeeded(2, appending: 1) == 1)  // a fresh block, not a copy
        #expect(kv.appendAndWrite(2, tokens: [1], allTokens: prompt + [1]))
        #expect(kv.appendAndWrite(1, tokens: [2], allTokens: prompt + [2]))
        #expect(kv.stats.copyOnWrites == 0)
        #expect(kv.mismatchedPositions(1, tokens: prompt + [2]).isEmpty)
        #expect(kv.mismatchedPositions(2, tokens: prompt + [1]).isEmpty)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("appendSlots returns nil and changes nothing when blocks run out")
    func outOfBlocks() throws {
        let kv = KVCacheManager(layout: smallLayout, blockCount: 4)
        let prompt = Array(tokens[0..<10])
        _ = kv.startSequence(1, promptTokens: prompt)
        #expect(kv.appendAndWrite(1, tokens: prompt, allTokens: prompt))
        kv.fork(1, into: 2)
        // One block left; 3 more tokens for sequence 2 need a copy plus a new block.
        #expect(kv.blocksNeeded(2, appending: 3) == 2)
        let before = (kv.stats, kv.blockTable(1), kv.blockTable(2), kv.tokenCount(2))
        #expect(kv.appendSlots(2, tokens: [1, 2, 3]) == nil)
        #expect(kv.stats == before.0)
        #expect(kv.blockTable(1) == before.1 && kv.blockTable(2) == before.2)
        #expect(kv.tokenCount(2) == before.3)
        #expect(kv.invariantViolations().isEmpty)
        // The copy alone still fits.
        #expect(kv.appendAndWrite(2, tokens: [1, 2], allTokens: prompt + [1, 2]))
        #expect(kv.stats.freeBlocks == 0)
        #expect(kv.appendSlots(1, tokens: [5, 6, 7]) == nil)
        #expect(kv.mismatchedPositions(1, tokens: prompt).isEmpty)
        #expect(kv.mismatchedPositions(2, tokens: prompt + [1, 2]).isEmpty)
        #expect(kv.invariantViolations().isEmpty)
    }

    @Test("a memory budget becomes floor(bytes / blockBytes) blocks")
    func budget() throws {
        let layout = PagedKVLayout(blockSize: 16, layers: 30, kvHeads: 3, headDimension: 64, precision: .f16)
        #expect(layout.blockBytes == 30 * 2 * 16 * 384)
        let kv = try KVCacheManager(layout: layout, memoryBudget: layout.blockBytes * 5 + layout.blockBytes / 2)
        #expect(kv.stats.totalBlocks == 5 && kv.arena.blockCount == 5)
        #expect(kv.blockSize == 16)
        let one = try KVCacheManager(layout: layout, memoryBudget: layout.blockBytes)
        #expect(one.stats.totalBlocks == 1)
    }

    @Test("a budget below one block is an error that names the minimum")
    func budgetTooSmall() {
        let need = smallLayout.blockBytes
        #expect(throws: KVCacheError.budgetTooSmall(budgetBytes: need - 1, minimumBytes: need)) {
            _ = try KVCacheManager(layout: smallLayout, memoryBudget: need - 1)
        }
        #expect(throws: KVCacheError.budgetTooSmall(budgetBytes: 0, minimumBytes: need)) {
            _ = try KVCacheManager(layout: smallLayout, memoryBudget: 0)
        }
        let message = KVCacheError.budgetTooSmall(budgetBytes: 5, minimumBytes: need).description
        #expect(message.contains("\(need) bytes") && message.contains("5 bytes"))
    }
}
