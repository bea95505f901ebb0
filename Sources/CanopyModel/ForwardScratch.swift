import CanopyKernels
import Synchronization

/// Activation buffers for one forward pass, sized for up to `capacity` tokens.
///
/// Buffers are reused across passes (see `ForwardScratchPool`), so a steady-state decode
/// step allocates none of them. `projections` and `feedForwardInputs` list the output
/// buffers of the grouped Q/K/V and gate/up products in matrix order. `@unchecked Sendable`:
/// it is handed between threads only through `ForwardScratchPool`, one pass at a time.
final class ForwardScratch: @unchecked Sendable {
    let capacity: Int
    let residual: UnsafeMutablePointer<Float>
    let normed: UnsafeMutablePointer<Float>
    let query: UnsafeMutablePointer<Float>
    let key: UnsafeMutablePointer<Float>
    let value: UnsafeMutablePointer<Float>
    let mixed: UnsafeMutablePointer<Float>
    let gate: UnsafeMutablePointer<Float>
    let up: UnsafeMutablePointer<Float>
    let cosines: UnsafeMutablePointer<Float>
    let sines: UnsafeMutablePointer<Float>
    /// [query, key, value]: outputs of the grouped attention projections.
    let projections: [UnsafeMutablePointer<Float>]
    /// [gate, up]: outputs of the grouped feed-forward input products.
    let feedForwardInputs: [UnsafeMutablePointer<Float>]
    /// The batch's attention plan, prepared once per pass and used by every layer.
    let attentionPlan = PagedAttentionPlan()
    /// The per-token loops, run on the worker pool without allocating.
    let tokenLoops = TokenLoops()

    init(capacity n: Int, config c: ModelConfig) {
        capacity = n
        residual = .allocate(capacity: n * c.embeddingLength)
        normed = .allocate(capacity: n * max(c.embeddingLength, c.queryWidth))
        query = .allocate(capacity: n * c.queryWidth)
        key = .allocate(capacity: n * c.keyValueWidth)
        value = .allocate(capacity: n * c.keyValueWidth)
        mixed = .allocate(capacity: n * c.queryWidth)
        gate = .allocate(capacity: n * c.feedForwardLength)
        up = .allocate(capacity: n * c.feedForwardLength)
        cosines = .allocate(capacity: n * c.ropeDimensionCount / 2)
        sines = .allocate(capacity: n * c.ropeDimensionCount / 2)
        projections = [query, key, value]
        feedForwardInputs = [gate, up]
    }

    deinit {
        for buffer in [residual, normed, query, key, value, mixed, gate, up, cosines, sines] {
            buffer.deallocate()
        }
    }
}

/// Scratch buffers kept between forward passes: a pass takes the smallest free scratch that
/// fits its batch (allocating one only when none does) and returns it afterwards. Passes on
/// different threads get different buffers.
///
/// `@unchecked Sendable`: the free list is only touched under `lock`, and a scratch is used by
/// one pass at a time (it is out of the list while in use).
final class ForwardScratchPool: @unchecked Sendable {
    private let config: ModelConfig
    private let free = Mutex<[ForwardScratch]>([])
    /// Free scratches kept at most; a burst of concurrent callers does not pin memory forever.
    private let keep = 4

    init(config: ModelConfig) {
        self.config = config
    }

    /// Runs `body` with a scratch for at least `tokens` tokens.
    func withScratch<R>(tokens: Int, _ body: (ForwardScratch) -> R) -> R {
        let taken: ForwardScratch? = free.withLock { list in
            var best: Int?
            for i in list.indices where list[i].capacity >= tokens {
                if best.map({ list[i].capacity < list[$0].capacity }) ?? true { best = i }
            }
            return best.map { list.remove(at: $0) }
        }
        // Round capacity up so a prefill chunk a little longer than the last one reuses it.
        let scratch = taken ?? ForwardScratch(capacity: max(tokens, 1).roundedUpToPowerOfTwo, config: config)
        defer {
            free.withLock { list in
                list.append(scratch)
                if list.count > keep {
                    list.sort { $0.capacity > $1.capacity }
                    list.removeLast(list.count - keep)
                }
            }
        }
        return body(scratch)
    }
}

extension Int {
    fileprivate var roundedUpToPowerOfTwo: Int {
        self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
    }
}
