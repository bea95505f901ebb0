import CanopyKernels
import Foundation
import Testing

@testable import CanopyKV

/// Drives the manager with a seeded random serving workload on a small pool, so prefix
/// hits, copy-on-write, eviction and running out of blocks all happen often, and checks
/// after every operation that the invariants hold and that every live sequence's rows hold
/// exactly the prefix-derived pattern written when its slots were reserved. With a swap tier,
/// preemption also swaps sequences out and back in, evicted prefix blocks move to the tier
/// and are hit there, and some transfers fail on purpose.
@Suite("KV cache manager: randomized workload")
struct RandomizedWorkloadTests {
    /// The chain hash the manager files blocks under; the weak ones make collisions common.
    enum ChainHash: Sendable {
        case standard
        /// Token sum and parent folded into 16 values.
        case sixteenValues
        /// Equal blocks after different prefixes always collide.
        case ignoresParent

        var function: (Int, ArraySlice<Int32>) -> Int {
            switch self {
            case .standard: return PrefixBlockKey.chain
            case .sixteenValues: return { parent, tokens in sumHash(parent, tokens) & 15 }
            case .ignoresParent: return { _, tokens in PrefixBlockKey.chain(parent: 0, tokens: tokens) }
            }
        }
    }

    struct Workload {
        var rng: SplitMix64
        let kv: KVCacheManager
        let bases: [[Int32]]
        /// Every live sequence's tokens (all of them have reserved, written slots).
        var live: [SequenceID: [Int32]] = [:]
        var nextID: SequenceID = 0
        var failure: String?
        var refusals = 0
        /// Swapped-out sequences' tokens.
        var swappedOut: [SequenceID: [Int32]] = [:]
        var swapOuts = 0
        var swapIns = 0
        var swapRefusals = 0

        init(seed: UInt64, layout: PagedKVLayout, blocks: Int, prefixCaching: Bool, hash: ChainHash, swapSlots: Int = 0) {
            var generator = SplitMix64(seed: seed)
            var tier: KVSwapTier?
            if swapSlots > 0 {
                tier = try! KVSwapTier(
                    directory: temporaryDirectory, capacityBytes: swapSlots * layout.blockBytes, slotBytes: layout.blockBytes)
                // Every 53rd transfer fails, as a disk error would.
                let transfers = Counter()
                tier!.injectedFailure = { _, _ in transfers.next() % 53 == 52 ? EIO : nil }
            }
            kv = KVCacheManager(
                layout: layout, blockCount: blocks, prefixCaching: prefixCaching, swapTier: tier,
                chainHash: hash.function)
            var bases: [[Int32]] = []
            for _ in 0..<4 {
                bases.append((0..<24).map { _ in Int32.random(in: 0..<1000, using: &generator) })
            }
            self.bases = bases
            rng = generator
        }

        mutating func fail(_ message: String) { if failure == nil { failure = message } }

        /// A small vocabulary so independently generated continuations sometimes coincide.
        mutating func randomTokens(_ count: Int) -> [Int32] {
            (0..<count).map { _ in Int32.random(in: 0..<8, using: &rng) }
        }

        mutating func randomLive() -> SequenceID? {
            live.keys.sorted().randomElement(using: &rng)
        }

        func snapshot() -> (KVCacheStats, [SequenceID: [Int32]]) {
            (kv.stats, Dictionary(uniqueKeysWithValues: live.keys.map { ($0, kv.blockTable($0)) }))
        }

        /// Appends `tokens` to `id` (whose tokens become `all`), checking the block
        /// accounting on success and the absence of side effects on refusal.
        mutating func append(_ id: SequenceID, _ tokens: [Int32], all: [Int32]) -> Bool {
            let needed = kv.blocksNeeded(id, appending: tokens.count)
            let before = snapshot()
            let countBefore = kv.tokenCount(id)
            guard kv.appendAndWrite(id, tokens: tokens, allTokens: all) else {
                refusals += 1
                if needed <= before.0.freeBlocks { fail("refused \(needed) blocks with \(before.0.freeBlocks) free") }
                let after = snapshot()
                if after.0 != before.0 || after.1 != before.1 || kv.tokenCount(id) != countBefore {
                    fail("a refused append changed the manager")
                }
                return false
            }
            if needed > before.0.freeBlocks { fail("granted \(needed) blocks with \(before.0.freeBlocks) free") }
            if kv.stats.freeBlocks != before.0.freeBlocks - needed {
                fail("append took \(before.0.freeBlocks - kv.stats.freeBlocks) blocks, blocksNeeded said \(needed)")
            }
            return true
        }

        /// Admits a sequence with `prompt`: cached prefix, then the rest; cancels it if the
        /// rest does not fit.
        mutating func admit(_ id: SequenceID, _ prompt: [Int32]) {
            let before = kv.stats
            let cached = kv.startSequence(id, promptTokens: prompt)
            if cached % kv.blockSize != 0 || cached >= prompt.count || cached < 0 {
                fail("startSequence returned \(cached) for a \(prompt.count)-token prompt")
            }
            if !kv.prefixCaching, cached != 0 { fail("prefix hit with caching off") }
            let after = kv.stats
            if after.prefixHits - before.prefixHits != cached || after.prefixQueries - before.prefixQueries != prompt.count {
                fail("prefix counters off: \(before) → \(after) for \(cached)/\(prompt.count)")
            }
            if kv.tokenCount(id) != cached { fail("tokenCount \(kv.tokenCount(id)) after a \(cached)-token hit") }
            let wrong = kv.mismatchedPositions(id, tokens: prompt, count: cached)
            if !wrong.isEmpty { fail("cached rows of sequence \(id) differ at positions \(wrong)") }
            if append(id, Array(prompt[cached...]), all: prompt) {
                live[id] = prompt
            } else {
                kv.free(id)
            }
        }

        mutating func step() {
            let roll = Int.random(in: 0..<100, using: &rng)
            switch roll {
            case 0..<25 where live.count < 12:
                let base = bases.randomElement(using: &rng)!
                var prompt = Array(base.prefix(Int.random(in: 0...base.count, using: &rng)))
                prompt += randomTokens(Int.random(in: 0...6, using: &rng))
                if prompt.isEmpty { prompt = randomTokens(1) }
                nextID += 1
                admit(nextID, prompt)
            case 0..<60:
                guard let id = randomLive() else { return }
                let count = Bool.random(using: &rng) ? 1 : Int.random(in: 1...6, using: &rng)
                let tokens = randomTokens(count)
                let all = live[id]! + tokens
                if append(id, tokens, all: all) {
                    live[id] = all
                } else if Bool.random(using: &rng) {
                    kv.free(id)  // cancelled when out of memory
                    live[id] = nil
                }
            case 60..<70 where live.count < 12:
                guard let id = randomLive() else { return }
                nextID += 1
                kv.fork(id, into: nextID)
                live[nextID] = live[id]
            case 60..<85:
                guard let id = randomLive() else { return }
                kv.free(id)
                live[id] = nil
            case 85..<92 where !swappedOut.isEmpty:
                swapIn(swappedOut.keys.sorted().randomElement(using: &rng)!)
            default:  // preempt: swap out, or drop the blocks and resume from prompt + generated tokens
                guard let id = randomLive() else { return }
                let tokens = live.removeValue(forKey: id)!
                if kv.swapTier != nil, Bool.random(using: &rng) {
                    let before = kv.stats
                    let freed = kv.swappableBlocks(id)
                    do {
                        try kv.swapOut(id)
                        swapOuts += 1
                        swappedOut[id] = tokens
                        if kv.stats.freeBlocks != before.freeBlocks + freed {
                            fail("swap-out freed \(kv.stats.freeBlocks - before.freeBlocks) blocks, expected \(freed)")
                        }
                        return
                    } catch {
                        swapRefusals += 1
                        if kv.stats.usedBlocks != before.usedBlocks || !kv.contains(id) || kv.isSwappedOut(id) {
                            fail("a failed swap-out (\(error)) changed the arena")
                        }
                    }
                }
                kv.free(id)
                admit(id, tokens)
            }
        }

        /// Brings a swapped-out sequence back: resident with its rows, or (read failure)
        /// gone and readmitted from scratch; a refusal for lack of blocks changes nothing.
        mutating func swapIn(_ id: SequenceID) {
            let tokens = swappedOut[id]!
            do {
                guard try kv.swapIn(id) != nil else {
                    swapRefusals += 1
                    if !kv.isSwappedOut(id) { fail("a refused swap-in changed sequence \(id)") }
                    return
                }
                swapIns += 1
                swappedOut[id] = nil
                live[id] = tokens
            } catch {
                swappedOut[id] = nil
                if kv.contains(id) { fail("sequence \(id) still registered after a failed swap-in") }
                admit(id, tokens)
            }
        }

        mutating func check(_ operation: Int) {
            let problems = kv.invariantViolations()
            if !problems.isEmpty { fail("after operation \(operation): \(problems.prefix(5))") }
            for (id, tokens) in live {
                if kv.tokenCount(id) != tokens.count { fail("sequence \(id): token count \(kv.tokenCount(id)) vs \(tokens.count)") }
                let wrong = kv.mismatchedPositions(id, tokens: tokens)
                if !wrong.isEmpty { fail("after operation \(operation): sequence \(id) rows differ at \(wrong)") }
            }
        }
    }

    @Test(
        "thousands of random operations keep every invariant and every sequence's rows",
        arguments: [
            (UInt64(1), 4, true, ChainHash.standard, 0), (UInt64(2), 4, true, .standard, 0),
            (UInt64(3), 3, true, .standard, 0), (UInt64(4), 4, false, .standard, 0),
            (UInt64(5), 4, true, .sixteenValues, 0), (UInt64(6), 2, true, .ignoresParent, 0),
            // With a swap tier: roomy, tight, weak hashes, no prefix caching.
            (UInt64(7), 4, true, .standard, 24), (UInt64(8), 3, true, .standard, 6),
            (UInt64(9), 4, true, .sixteenValues, 12), (UInt64(10), 2, true, .ignoresParent, 12),
            (UInt64(11), 4, false, .standard, 12),
        ])
    func randomWorkload(seed: UInt64, blockSize: Int, prefixCaching: Bool, hash: ChainHash, swapSlots: Int) {
        let layout = PagedKVLayout(blockSize: blockSize, layers: 2, kvHeads: 1, headDimension: 2, precision: .f32)
        var w = Workload(
            seed: seed, layout: layout, blocks: 24, prefixCaching: prefixCaching, hash: hash, swapSlots: swapSlots)
        for operation in 0..<4000 {
            w.step()
            w.check(operation)
            if let failure = w.failure {
                Issue.record("seed \(seed): \(failure)")
                return
            }
        }
        let s = w.kv.stats
        #expect(w.refusals > 50, "the pool should run out of blocks often (\(w.refusals))")
        #expect(s.copyOnWrites > 50, "copy-on-write should happen often (\(s.copyOnWrites))")
        if prefixCaching {
            #expect(s.prefixHits > 500, "prefix hits should be common (\(s.prefixHits))")
            #expect(s.evictions > 50, "eviction should happen often (\(s.evictions))")
        } else {
            #expect(s.prefixHits == 0 && s.evictions == 0 && s.cachedBlocks == 0)
        }
        if swapSlots > 0 {
            #expect(w.swapOuts > 50 && w.swapIns > 30, "swapping should be common (\(w.swapOuts) out, \(w.swapIns) in)")
            #expect(s.swapFailures > 5, "injected transfer failures should happen (\(s.swapFailures))")
            if prefixCaching {
                #expect(s.prefixSwapHits > 20, "evicted prefix blocks should be hit in the tier (\(s.prefixSwapHits))")
            } else {
                #expect(s.prefixSwapHits == 0 && s.swapCachedBlocks == 0)
            }
        }
        for id in w.live.keys { w.kv.free(id) }
        for id in w.swappedOut.keys { w.kv.free(id) }
        let end = w.kv.stats
        #expect(end.swapFreeSlots + end.swapCachedBlocks == end.swapSlots && end.swappedSequences == 0)
        #expect(end.usedBlocks == 0 && end.freeBlocks == end.totalBlocks && end.totalBlocks == 24)
        #expect(end.cachedBlocks <= end.freeBlocks)
        #expect(w.kv.invariantViolations() == [])
    }
}

/// A thread-safe counter for fault-injection closures.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    /// Returns the current value and increments it.
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        defer { value += 1 }
        return value
    }
}

/// Where tests create swap files (they are unlinked at once).
let temporaryDirectory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
