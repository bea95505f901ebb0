import CanopyGGUF
import Foundation

/// Why an expert cache could not be set up.
public enum ExpertCacheError: Error, CustomStringConvertible, Equatable {
    /// The model file could not be opened for reading the experts.
    case cannotOpen(path: String, reason: String)
    /// The budget is negative.
    case invalidBudget(Int)
    /// The file's expert tensors are unusable.
    case model(ModelError)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open \(path) to read expert weights: \(reason)"
        case .invalidBudget(let bytes):
            return "the expert cache size must be at least 0 bytes, got \(bytes)"
        case .model(let error):
            return error.description
        }
    }
}

/// Keeps a bounded set of a mixture-of-experts model's routed experts in memory and reads the
/// others from the model file on demand (expert offloading).
///
/// Guarantees:
/// - At most `stats().slots` experts are resident; at least `usedCount`, so one token can
///   always run. The least recently used unpinned expert is replaced on a miss.
/// - An expert's bytes are an exact copy of the file's, so outputs are bit-identical to the
///   memory-mapped path.
/// - Experts are read with `pread` from the file, never through the model's memory map, so
///   unused experts do not stay resident in the process (the kernel's page cache may still
///   hold the file's pages).
/// - After a block routes its tokens, one background thread loads the experts the next MoE
///   block used on the previous pass (a bounded queue; stale requests are dropped).
/// - Thread-safe: several forward passes may use one cache at once.
public final class ExpertCache: Sendable {
    private let pool: ExpertSlotPool

    /// Bytes of all routed experts of the model.
    public let totalExpertBytes: Int

    /// Creates a cache for `config`'s experts in `file` holding at most `budgetBytes` of them
    /// (rounded down to whole experts, but at least `usedCount` experts), or returns nil when
    /// the model has no experts or the budget holds all of them: then the memory-mapped,
    /// zero-copy path is as good and is used instead.
    public static func make(file: GGUFFile, config: ModelConfig, budgetBytes: Int) throws(ExpertCacheError) -> ExpertCache? {
        guard budgetBytes >= 0 else { throw .invalidBudget(budgetBytes) }
        guard let experts = config.experts else { return nil }
        let layout: ExpertFileLayout
        do {
            layout = try ExpertFileLayout(file: file, config: config, experts: experts)
        } catch {
            throw .model(error)
        }
        guard layout.totalExperts > 0, budgetBytes < layout.totalBytes else { return nil }
        let slots = max(experts.usedCount, budgetBytes / layout.largestExpertBytes)
        guard slots < layout.totalExperts else { return nil }
        return try ExpertCache(path: file.path, layout: layout, slots: slots, fileChange: { file.changeOnDisk() })
    }

    /// Bytes of all of `config`'s routed experts in `file` (0 for a dense model): the budget
    /// at which the cache would hold every expert.
    public static func routedExpertBytes(file: GGUFFile, config: ModelConfig) throws(ExpertCacheError) -> Int {
        guard let experts = config.experts else { return 0 }
        do {
            return try ExpertFileLayout(file: file, config: config, experts: experts).totalBytes
        } catch {
            throw .model(error)
        }
    }

    private init(
        path: String, layout: ExpertFileLayout, slots: Int, fileChange: @escaping @Sendable () -> String?
    ) throws(ExpertCacheError) {
        pool = try ExpertSlotPool(path: path, layout: layout, slots: slots, fileChange: fileChange)
        totalExpertBytes = layout.totalBytes
        let worker = Thread { [pool] in pool.runPrefetcher() }
        worker.name = "canopy-expert-prefetch"
        worker.start()
    }

    deinit {
        // The prefetch thread holds the pool, not the cache; stopping lets it exit and free it.
        pool.stop()
    }

    /// The file byte ranges of the routed experts this cache reads on demand (the rest of
    /// the file is read into memory at load).
    public var fileRanges: [Range<Int>] { pool.layout.fileRanges }

    /// Counters since load.
    public func stats() -> ExpertCacheStats { pool.snapshot() }

    /// Why expert weights could not be read from the model file after it changed on disk
    /// (truncated or rewritten), once that has happened: every forward pass of the model
    /// fails from then on, since the file no longer holds the weights it was loaded with. (A
    /// failed read with the file unchanged fails only the pass that needed it.)
    public var readFailure: String? { pool.failures.permanent }

    /// Every failed read since load, transient ones included.
    var readFailures: ReadFailureLog { pool.failures }

    /// Runs `body` with expert `expert` of block `block` resident and pinned. When the read
    /// fails the slot holds other bytes and `readFailure` is set; the pass must then fail.
    func withExpert<R>(block: Int, expert: Int, _ body: (SwiGLUWeights) -> R) -> R {
        guard let layout = pool.layout.blocks[block] else { preconditionFailure("block \(block) has no experts") }
        let slot = pool.acquire(ExpertSlotPool.Key(block: block, expert: expert))
        defer { pool.release(slot) }
        return body(layout.weights(at: pool.base(of: slot)))
    }

    /// Tells the cache which experts block `block` is about to use (`tokens[expert]` rows
    /// each), so it can prefetch the next block's likely experts meanwhile.
    func routed(block: Int, tokens: [Int]) {
        pool.routed(block: block, tokens: tokens)
    }
}
