import Dispatch

/// Fork-join parallelism for numeric loops.
///
/// One seam for every parallel loop outside the matmuls, so that the persistent worker pool
/// planned for the fast kernels replaces Dispatch in one place.
public enum Parallel {
    /// Runs `body(i)` for every `i` in `0..<iterations`, spread over the cores, and returns
    /// when all have finished. `body` may capture raw pointers: iterations must write
    /// disjoint memory.
    public static func forEach(_ iterations: Int, _ body: (Int) -> Void) {
        guard iterations > 1 else {
            if iterations == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let task = UncheckedBody(run: escapable)
            DispatchQueue.concurrentPerform(iterations: iterations) { task.run($0) }
        }
    }

    /// `@unchecked Sendable` is sound: `concurrentPerform` returns only after every
    /// iteration ran, so the body never outlives the caller's frame, and iterations touch
    /// disjoint memory by contract.
    private struct UncheckedBody: @unchecked Sendable {
        let run: (Int) -> Void
    }
}
