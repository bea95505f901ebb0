/// Fork-join parallelism for numeric loops outside the C kernels.
public enum Parallel {
    /// Runs `body(i)` for every `i` in `0..<iterations` on the shared `WorkerPool`, and
    /// returns when all have finished. `body` may capture raw pointers: iterations must
    /// write disjoint memory.
    public static func forEach(_ iterations: Int, _ body: (Int) -> Void) {
        WorkerPool.shared.forEach(iterations, body)
    }
}
