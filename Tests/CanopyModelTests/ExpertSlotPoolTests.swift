import CanopyGGUF
import CanopyKernels
import Foundation
import Testing
@testable import CanopyModel

/// The expert cache's slot pool on its own (no prefetch requests, so every count is exact):
/// least-recently-used replacement, pins, and slots holding exactly the file's bytes.
@Suite("Expert slot pool")
struct ExpertSlotPoolTests {
    typealias Key = ExpertSlotPool.Key

    static func pool(slots: Int) throws -> (ExpertSlotPool, GGUFFile, ExpertFileLayout) {
        let loaded = try MoEModels.moeTinyModel()
        let layout = try ExpertFileLayout(file: loaded.file, config: loaded.config, experts: try #require(loaded.config.experts))
        let pool = try ExpertSlotPool(path: loaded.file.path, layout: layout, slots: slots, fileChange: { nil })
        return (pool, loaded.file, layout)
    }

    @Test("least recently used replacement, exact counters")
    func leastRecentlyUsed() throws {
        let (pool, _, layout) = try Self.pool(slots: 3)
        #expect(layout.totalExperts == 12 && layout.largestExpertBytes == 3 * 256 * 128 / 32 * 34)
        func use(_ block: Int, _ expert: Int) { pool.release(pool.acquire(Key(block: block, expert: expert))) }
        use(0, 0)  // miss
        use(0, 1)  // miss
        use(0, 0)  // hit; (0,1) is now the least recently used
        use(1, 0)  // miss, fills the third slot
        use(1, 1)  // miss, evicts (0,1)
        use(0, 0)  // hit
        use(0, 1)  // miss, evicts (1,0)
        use(1, 1)  // hit
        let stats = pool.snapshot()
        #expect(stats.hits == 3 && stats.misses == 5 && stats.evictions == 2, "\(stats)")
        #expect(stats.prefetchHits == 0 && stats.prefetchLoads == 0)
        #expect(stats.bytesRead == 5 * UInt64(layout.largestExpertBytes))
    }

    @Test("a slot holds the expert's bytes exactly as the file stores them")
    func slotBytesEqualFile() throws {
        let (pool, file, _) = try Self.pool(slots: 2)
        for (block, expert) in [(0, 3), (2, 1), (1, 2)] {
            let slot = pool.acquire(Key(block: block, expert: expert))
            defer { pool.release(slot) }
            var offset = 0
            for name in ["ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"] {
                let info = try #require(file.tensor(named: "blk.\(block).\(name).weight"))
                let stride = info.byteCount / 4
                let expected = UnsafeRawBufferPointer(rebasing: file.data(of: info)[(expert * stride)..<((expert + 1) * stride)])
                let actual = UnsafeRawBufferPointer(start: pool.base(of: slot) + offset, count: stride)
                #expect(expected.elementsEqual(actual), "block \(block) expert \(expert) \(name)")
                offset += stride
            }
        }
    }

    @Test("a pinned slot is never evicted: acquiring waits for a release")
    func pinsBlock() throws {
        let (pool, _, _) = try Self.pool(slots: 2)
        let a = pool.acquire(Key(block: 0, expert: 0))
        let b = pool.acquire(Key(block: 0, expert: 1))
        let done = DoneFlag()
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            pool.release(pool.acquire(Key(block: 1, expert: 0)))
            done.value.withLock { $0 = true }
            finished.signal()
        }
        thread.start()
        Thread.sleep(forTimeInterval: 0.1)
        let early = done.value.withLock { $0 }
        #expect(!early, "a third expert was loaded while both slots were pinned")
        pool.release(b)
        finished.wait()
        let late = done.value.withLock { $0 }
        #expect(late)
        pool.release(a)
        // (0,0) stayed pinned, so the waiting acquire must have replaced (0,1).
        pool.release(pool.acquire(Key(block: 0, expert: 0)))
        let stats = pool.snapshot()
        #expect(stats.misses == 3 && stats.hits == 1 && stats.evictions == 1, "\(stats)")
    }
}

/// A flag shared with a background thread.
private final class DoneFlag: Sendable {
    let value = Locked(false)
}
