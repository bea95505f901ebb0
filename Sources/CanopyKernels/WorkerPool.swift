import CCanopyKernels

/// A parallel loop body kept in an object, for loops that run every layer of every decode
/// step (see `WorkerPool.run`). `run(i)` is called once for every index, from several threads
/// at once; iterations must write disjoint memory.
public protocol PoolJob: AnyObject {
    /// Runs iteration `index`.
    func run(_ index: Int)
}

/// The process-wide pool of kernel worker threads: one persistent set of threads that every
/// matmul and attention loop forks onto, so the decode loop creates no threads.
///
/// Sized to the physical cores unless `configure(threads:)` says otherwise. Workers spin for
/// a fraction of a millisecond after each loop (the next matmul of a forward pass follows
/// within microseconds), then sleep. A loop started while another thread is running one on
/// the pool runs on its caller alone: results never depend on how the work was split.
public final class WorkerPool: Sendable {
    /// The C pool; `@unchecked`-free because the pointer itself never changes and the C pool
    /// serializes callers internally.
    private nonisolated(unsafe) let handle: OpaquePointer
    /// Threads taking part in each loop, including the caller.
    public let threadCount: Int

    private init(threads: Int) {
        guard let handle = canopy_pool_create(Int32(clamping: threads)) else {
            fatalError("WorkerPool: cannot create \(threads) worker threads")
        }
        self.handle = handle
        threadCount = Int(canopy_pool_threads(handle))
    }

    deinit { canopy_pool_destroy(handle) }

    private static let current = Locked<WorkerPool?>(nil)

    /// The pool kernels use now (created on first use with one thread per physical core).
    public static var shared: WorkerPool {
        current.withLock { pool in
            if let pool { return pool }
            let made = WorkerPool(threads: physicalCores)
            pool = made
            return made
        }
    }

    /// Replaces the shared pool with one of `threads` threads (0 = one per physical core).
    /// Loops already running finish on the old pool, which is released afterwards.
    ///
    /// - Precondition: `threads >= 0`.
    public static func configure(threads: Int) {
        precondition(threads >= 0, "WorkerPool: negative thread count \(threads)")
        let made = WorkerPool(threads: threads == 0 ? physicalCores : threads)
        current.withLock { $0 = made }
    }

    /// Physical cores in this process's CPU affinity mask (SMT siblings counted once).
    public static var physicalCores: Int { Int(canopy_physical_cores()) }

    /// Runs `body(i)` for every `i` in `0..<iterations` across the pool and returns when all
    /// have finished. Iterations must write disjoint memory.
    public func forEach(_ iterations: Int, _ body: (Int) -> Void) {
        guard iterations > 1 else {
            if iterations == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            // Wrapped in a struct so the closure is stored at its natural abstraction: a bare
            // function value passed to the generic `withUnsafeMutablePointer` would be
            // re-abstracted through a heap-allocated thunk on every call.
            var task = Task(body: escapable)
            withUnsafeMutablePointer(to: &task) { pointer in
                canopy_pool_run(handle, Int64(iterations), { context, index in
                    context!.assumingMemoryBound(to: Task.self).pointee.body(Int(index))
                }, pointer)
            }
        }
    }

    private struct Task {
        let body: (Int) -> Void
    }

    /// Runs `job.run(i)` for every `i` in `0..<iterations` across the pool and returns when
    /// all have finished. Unlike `forEach`, allocates nothing: `forEach` must box its
    /// closure on the heap to hand it to C (Swift checks that it did not escape), an object
    /// is passed as it is. Iterations must write disjoint memory.
    public func run(_ iterations: Int, _ job: any PoolJob) {
        guard iterations > 1 else {
            if iterations == 1 { job.run(0) }
            return
        }
        var erased = job
        withUnsafeMutablePointer(to: &erased) { pointer in
            canopy_pool_run(handle, Int64(iterations), { context, index in
                context!.assumingMemoryBound(to: (any PoolJob).self).pointee.run(Int(index))
            }, pointer)
        }
    }

    /// The C pool, for kernels that fork from C.
    var cPool: OpaquePointer { handle }
}
