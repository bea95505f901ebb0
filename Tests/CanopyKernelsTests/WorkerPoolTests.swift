import CanopyKernels
import Testing

/// The worker pool's fork-join under churn: many tiny loops back to back, of alternating
/// sizes, so a worker that wakes late races the next loop's publication. Every loop must run
/// each of its iterations exactly once, with its own body.
@Suite("Worker pool")
struct WorkerPoolTests {
    @Test func backToBackLoopsRunEachIterationOnce() {
        let pool = WorkerPool.shared
        let rounds = 1_000_000
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 2 * 8)
        defer { counts.deallocate() }
        var bad = 0
        for round in 0..<rounds {
            // Sizes 2 and 5 alternate; each loop writes its own half of `counts`.
            let size = round % 2 == 0 ? 2 : 5
            let base = counts + (round % 2) * 8
            base.initialize(repeating: 0, count: 8)
            pool.forEach(size) { i in base[i] += 1 }
            for i in 0..<8 where base[i] != (i < size ? 1 : 0) { bad += 1 }
        }
        #expect(bad == 0, "\(bad) iterations ran other than once in \(rounds) loops on \(pool.threadCount) threads")
    }
}
