import CanopyKernels
import Foundation
import Testing

@testable import CanopyKV

/// The swap tier: its file, sequence swap-out and swap-in, the tier's prefix cache, and the
/// failure paths (full tier, failed transfers). Invariants are checked after every mutation.
@Suite("KV swap tier")
struct KVSwapTierTests {
    /// A manager over `blocks` arena blocks with a tier of `slots` slots.
    func manager(blocks: Int, slots: Int, prefixCaching: Bool = true) throws -> KVCacheManager {
        let tier = try KVSwapTier(
            directory: temporaryDirectory, capacityBytes: slots * smallLayout.blockBytes, slotBytes: smallLayout.blockBytes)
        return KVCacheManager(layout: smallLayout, blockCount: blocks, prefixCaching: prefixCaching, swapTier: tier)
    }

    func expectConsistent(_ kv: KVCacheManager, _ sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(kv.invariantViolations() == [], sourceLocation: sourceLocation)
    }

    @Test("a swapped-out sequence frees its blocks and comes back with the same rows")
    func roundTrip() throws {
        let kv = try manager(blocks: 8, slots: 8, prefixCaching: false)
        let tokens: [Int32] = Array(1...10)  // 3 blocks, the last one partly filled
        #expect(kv.startSequence(1, promptTokens: tokens) == 0)
        #expect(kv.appendAndWrite(1, tokens: tokens, allTokens: tokens))
        expectConsistent(kv)
        #expect(kv.swappableBlocks(1) == 3)
        #expect(try kv.swapOut(1) == 3 * smallLayout.blockBytes)
        expectConsistent(kv)
        #expect(kv.isSwappedOut(1) && kv.contains(1))
        var s = kv.stats
        #expect(s.usedBlocks == 0 && s.freeBlocks == 8)
        #expect(s.swappedSequences == 1 && s.swapFreeSlots == 5 && s.swapOutBlocks == 3 && s.swapOutBytes == 3 * smallLayout.blockBytes)

        // Another sequence overwrites every arena block meanwhile.
        let other: [Int32] = (0..<32).map { Int32(100 + $0) }
        #expect(kv.startSequence(2, promptTokens: other) == 0)
        #expect(kv.appendAndWrite(2, tokens: other, allTokens: other))
        #expect(kv.swapInBlocksNeeded(1) == 3)
        #expect(try kv.swapIn(1) == nil, "no free block: refused")
        #expect(kv.isSwappedOut(1))
        expectConsistent(kv)
        kv.free(2)

        #expect(try kv.swapIn(1) == 3 * smallLayout.blockBytes)
        expectConsistent(kv)
        #expect(!kv.isSwappedOut(1) && kv.tokenCount(1) == 10)
        #expect(kv.mismatchedPositions(1, tokens: tokens).isEmpty)
        // It goes on as if nothing happened.
        #expect(kv.appendAndWrite(1, tokens: [11, 12, 13], allTokens: tokens + [11, 12, 13]))
        #expect(kv.mismatchedPositions(1, tokens: tokens + [11, 12, 13]).isEmpty)
        s = kv.stats
        #expect(s.swapInBlocks == 3 && s.swappedSequences == 0 && s.swapFreeSlots == 8)
        kv.free(1)
        expectConsistent(kv)
        #expect(kv.stats.usedBlocks == 0)
    }

    @Test("blocks shared with another sequence stay in the arena; only exclusive ones are swapped")
    func sharedBlocksStay() throws {
        let kv = try manager(blocks: 12, slots: 8, prefixCaching: false)
        let tokens: [Int32] = Array(1...10)
        _ = kv.startSequence(1, promptTokens: tokens)
        #expect(kv.appendAndWrite(1, tokens: tokens, allTokens: tokens))
        kv.fork(1, into: 2)
        #expect(kv.swappableBlocks(2) == 0, "every block is shared right after a fork")
        // The child's append copies the shared partly filled block: that copy is its own.
        #expect(kv.appendAndWrite(2, tokens: [50, 51, 52], allTokens: tokens + [50, 51, 52]))
        #expect(kv.swappableBlocks(2) == 2)  // the copied block and a new one
        let used = kv.stats.usedBlocks
        try kv.swapOut(2)
        expectConsistent(kv)
        #expect(kv.stats.usedBlocks == used - 2, "the two shared blocks stay referenced")
        kv.free(1)
        expectConsistent(kv)
        #expect(try kv.swapIn(2) != nil)
        expectConsistent(kv)
        #expect(kv.mismatchedPositions(2, tokens: tokens + [50, 51, 52]).isEmpty)
        kv.free(2)
        #expect(kv.stats.usedBlocks == 0 && kv.stats.swapFreeSlots == 8)
        expectConsistent(kv)
    }

    @Test("a swapped-out sequence that is freed gives back its slots and kept blocks")
    func freeWhileSwappedOut() throws {
        let kv = try manager(blocks: 12, slots: 8, prefixCaching: false)
        let tokens: [Int32] = Array(1...10)
        _ = kv.startSequence(1, promptTokens: tokens)
        #expect(kv.appendAndWrite(1, tokens: tokens, allTokens: tokens))
        kv.fork(1, into: 2)
        #expect(kv.appendAndWrite(2, tokens: [7], allTokens: tokens + [7]))
        try kv.swapOut(2)
        kv.free(2)
        expectConsistent(kv)
        kv.free(1)
        expectConsistent(kv)
        let s = kv.stats
        #expect(s.usedBlocks == 0 && s.swapFreeSlots == 8 && s.swappedSequences == 0)
    }

    @Test("a prefix evicted from the arena moves to the tier and is hit there")
    func prefixSwapHit() throws {
        let kv = try manager(blocks: 4, slots: 8)
        let prompt: [Int32] = Array(1...13)  // 3 full blocks and one token
        #expect(kv.startSequence(1, promptTokens: prompt) == 0)
        #expect(kv.appendAndWrite(1, tokens: prompt, allTokens: prompt))
        kv.free(1)
        #expect(kv.stats.cachedBlocks == 3)
        // A different prompt takes every block: the three cached ones are evicted to the tier.
        let other: [Int32] = (0..<16).map { Int32(200 + $0) }
        _ = kv.startSequence(2, promptTokens: other)
        #expect(kv.appendAndWrite(2, tokens: other, allTokens: other))
        expectConsistent(kv)
        var s = kv.stats
        #expect(s.evictions == 3 && s.swapCachedBlocks == 3 && s.swapOutBlocks == 3)
        kv.free(2)
        expectConsistent(kv)

        // The same prompt again: the three blocks come back from the tier with their rows.
        #expect(kv.startSequence(3, promptTokens: prompt) == 12)
        expectConsistent(kv)
        #expect(kv.mismatchedPositions(3, tokens: prompt, count: 12).isEmpty)
        s = kv.stats
        #expect(s.prefixSwapHits == 3 && s.swapInBlocks == 3 && s.prefixHits == 12)
        // And they are arena cache entries again: a second sequence shares them.
        kv.free(3)
        #expect(kv.startSequence(4, promptTokens: prompt) == 12)
        #expect(kv.stats.prefixSwapHits == 3, "the second hit is served from the arena")
        expectConsistent(kv)
    }

    @Test("a sequence swap-out drops cached prefix blocks from a full tier; a tier of swapped sequences refuses")
    func precedenceAndFullTier() throws {
        let kv = try manager(blocks: 6, slots: 4)
        let prompt: [Int32] = Array(1...17)  // 4 full blocks
        _ = kv.startSequence(1, promptTokens: prompt)
        #expect(kv.appendAndWrite(1, tokens: prompt, allTokens: prompt))
        kv.free(1)
        let filler: [Int32] = (0..<24).map { Int32(300 + $0) }
        _ = kv.startSequence(2, promptTokens: filler)
        #expect(kv.appendAndWrite(2, tokens: filler, allTokens: filler))
        #expect(kv.stats.swapCachedBlocks == 4 && kv.stats.swapFreeSlots == 0)
        kv.free(2)
        // Sequence 3's 3 blocks push 3 of the 4 cached prefix blocks out of the tier.
        let third: [Int32] = (0..<12).map { Int32(400 + $0) }
        _ = kv.startSequence(3, promptTokens: third)
        #expect(kv.appendAndWrite(3, tokens: third, allTokens: third))
        try kv.swapOut(3)
        expectConsistent(kv)
        #expect(kv.stats.swapCachedBlocks == 1 && kv.stats.swappedSequences == 1)
        // Sequence 4 needs 2 slots; only one (a cached prefix block) can be freed.
        let fourth: [Int32] = (0..<8).map { Int32(500 + $0) }
        _ = kv.startSequence(4, promptTokens: fourth)
        #expect(kv.appendAndWrite(4, tokens: fourth, allTokens: fourth))
        let before = kv.stats
        #expect(throws: KVSwapError.full(needed: 2, available: 1)) { try kv.swapOut(4) }
        #expect(kv.stats == before, "a refused swap-out changes nothing")
        #expect(!kv.isSwappedOut(4) && kv.mismatchedPositions(4, tokens: fourth).isEmpty)
        expectConsistent(kv)
    }

    @Test("a failed write leaves the sequence resident; a failed read drops it; nothing leaks")
    func transferFailures() throws {
        let kv = try manager(blocks: 8, slots: 8, prefixCaching: false)
        let tier = try #require(kv.swapTier)
        let tokens: [Int32] = Array(1...10)
        _ = kv.startSequence(1, promptTokens: tokens)
        #expect(kv.appendAndWrite(1, tokens: tokens, allTokens: tokens))

        // The second block's write fails.
        let writes = Counter()
        tier.injectedFailure = { operation, _ in operation == .write && writes.next() == 1 ? EIO : nil }
        let before = kv.stats
        #expect(throws: KVSwapError.self) { try kv.swapOut(1) }
        expectConsistent(kv)
        #expect(kv.stats.usedBlocks == before.usedBlocks && kv.stats.swapFreeSlots == 8 && kv.stats.swapFailures == 1)
        #expect(!kv.isSwappedOut(1) && kv.mismatchedPositions(1, tokens: tokens).isEmpty)

        // Writes work now; the second block's read fails on the way back.
        let reads = Counter()
        tier.injectedFailure = { operation, _ in operation == .read && reads.next() == 1 ? EIO : nil }
        try kv.swapOut(1)
        expectConsistent(kv)
        do {
            _ = try kv.swapIn(1)
            Issue.record("the read failure was not reported")
        } catch {
            #expect(error == .io(operation: "read", slot: error.slot, errno: EIO))
        }
        expectConsistent(kv)
        #expect(!kv.contains(1), "a sequence whose rows were lost is dropped, to be recomputed")
        let s = kv.stats
        #expect(s.usedBlocks == 0 && s.freeBlocks == 8 && s.swapFreeSlots == 8 && s.swapFailures == 2)
    }

    @Test("the swap file is created 0600 and has no name; a tier too small or a bad directory is refused")
    func swapFile() throws {
        let tier = try KVSwapTier(directory: temporaryDirectory, capacityBytes: 3 * 1000 + 999, slotBytes: 1000)
        #expect(tier.slotCount == 3 && tier.capacityBytes == 3000)
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
        var found: [(String, UInt16)] = []
        for fd in fds {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
                target.contains("canopy-kv-swap-\(getpid())-")
            else { continue }
            var info = stat()
            #expect(stat("/proc/self/fd/\(fd)", &info) == 0)
            found.append((target, UInt16(info.st_mode & 0o7777)))
        }
        #expect(found.count >= 1)
        for (target, mode) in found {
            #expect(target.hasSuffix(" (deleted)"), "\(target) should be unlinked")
            #expect(mode == 0o600)
        }
        #expect(throws: KVSwapError.tooSmall(capacityBytes: 999, slotBytes: 1000)) {
            try KVSwapTier(directory: temporaryDirectory, capacityBytes: 999, slotBytes: 1000)
        }
        #expect(throws: KVSwapError.cannotCreate(directory: "/nonexistent-canopy-dir", errno: ENOENT)) {
            try KVSwapTier(directory: "/nonexistent-canopy-dir", capacityBytes: 4000, slotBytes: 1000)
        }
        #expect(tier.measureThroughput() ?? 0 > 0)
    }
}

extension KVSwapError {
    /// The slot of an `.io` error (-1 otherwise), for comparisons in tests.
    var slot: Int32 {
        if case .io(_, let slot, _) = self { return slot }
        return -1
    }
}
