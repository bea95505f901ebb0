import CanopyKernels

/// The per-token loops of a forward pass — RMSNorm (of rows or of heads), RoPE with the K/V
/// write, SwiGLU/GeGLU, scaling, biases and the residual adds — as one reusable pool job.
///
/// Token rows are independent, so ranges of them run in parallel without changing a result.
/// Batches under 8 tokens run on the caller (a fork-join costs more than the loop). Handing
/// the pool this object rather than a closure is what keeps steady-state decoding free of
/// allocations (see `WorkerPool.run`). One forward pass uses it at a time: it lives in that
/// pass's `ForwardScratch`, hence `@unchecked Sendable`.
final class TokenLoops: PoolJob, @unchecked Sendable {
    /// Where RoPE rotates and which KV slots the rotated keys and values go to.
    struct RotateAndStore {
        var rope: RoPE
        var headCount: Int
        var kvHeadCount: Int
        var headDimension: Int
        var query: UnsafeMutablePointer<Float>
        var key: UnsafeMutablePointer<Float>
        var value: UnsafePointer<Float>
        /// `rope.dimensions / 2` angles per token.
        var cosines: UnsafePointer<Float>
        var sines: UnsafePointer<Float>
        var slots: UnsafePointer<(block: Int32, offset: Int)>
        var kv: KVStorage
        var layer: Int
    }

    /// One loop over token rows; `width` is the number of values per token row.
    enum Operation {
        /// output = RMSNorm(input) · weight, per row.
        case normalize(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, width: Int, epsilon: Float,
                       output: UnsafeMutablePointer<Float>)
        /// Each of a row's `heads` heads of `headDimension` values replaced, in place, by
        /// RMSNorm(head) · weight (Gemma's and Qwen3's query/key norms).
        case normalizeHeads(values: UnsafeMutablePointer<Float>, heads: Int, headDimension: Int,
                            weight: UnsafePointer<Float>, epsilon: Float)
        /// gate = silu(gate) · up.
        case swiGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, width: Int)
        /// gate = gelu(gate) · up (see `Activation.geGLU`).
        case geGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, width: Int)
        /// values *= factor.
        case scale(values: UnsafeMutablePointer<Float>, factor: Float, width: Int)
        /// target += source.
        case add(target: UnsafeMutablePointer<Float>, source: UnsafePointer<Float>, width: Int)
        /// target += row, the same `row` for every token (a bias).
        case addRow(target: UnsafeMutablePointer<Float>, row: UnsafePointer<Float>, width: Int)
        /// Rotates each token's query and key heads, then writes its key and value rows.
        case rotateAndStore(RotateAndStore)
    }

    private var operation: Operation?
    private var tokens = 0
    private var chunks = 1

    /// Runs `operation` over token rows `0..<tokens`, split across the worker pool when the
    /// batch is large enough to pay for it.
    func run(_ operation: Operation, tokens n: Int) {
        let pool = WorkerPool.shared
        let chunks = n >= 8 ? min(n, 2 * pool.threadCount) : 1
        guard chunks > 1 else { return Self.perform(operation, rows: 0..<n) }
        self.operation = operation
        tokens = n
        self.chunks = chunks
        defer { self.operation = nil }
        pool.run(chunks, self)
    }

    /// Chunk `index` of the operation in progress.
    func run(_ index: Int) {
        guard let operation else { preconditionFailure("TokenLoops: no operation in progress") }
        Self.perform(operation, rows: (tokens * index / chunks)..<(tokens * (index + 1) / chunks))
    }

    private static func perform(_ operation: Operation, rows: Range<Int>) {
        switch operation {
        case .normalize(let input, let weight, let width, let epsilon, let output):
            for t in rows {
                RMSNorm.apply(input + t * width, weight: weight, count: width, epsilon: epsilon, output: output + t * width)
            }
        case .normalizeHeads(let values, let heads, let headDimension, let weight, let epsilon):
            for head in (rows.lowerBound * heads)..<(rows.upperBound * heads) {
                let x = values + head * headDimension
                RMSNorm.apply(x, weight: weight, count: headDimension, epsilon: epsilon, output: x)
            }
        case .swiGLU(let gate, let up, let width):
            Activation.swiGLU(gate: gate + rows.lowerBound * width, up: up + rows.lowerBound * width,
                              count: rows.count * width)
        case .geGLU(let gate, let up, let width):
            Activation.geGLU(gate: gate + rows.lowerBound * width, up: up + rows.lowerBound * width,
                             count: rows.count * width)
        case .scale(let values, let factor, let width):
            for i in (rows.lowerBound * width)..<(rows.upperBound * width) { values[i] *= factor }
        case .add(let target, let source, let width):
            for i in (rows.lowerBound * width)..<(rows.upperBound * width) { target[i] += source[i] }
        case .addRow(let target, let row, let width):
            for t in rows {
                let x = target + t * width
                for i in 0..<width { x[i] += row[i] }
            }
        case .rotateAndStore(let r):
            let half = r.rope.dimensions / 2
            let queryWidth = r.headCount * r.headDimension
            let keyWidth = r.kvHeadCount * r.headDimension
            for t in rows {
                let cosines = r.cosines + t * half
                let sines = r.sines + t * half
                r.rope.rotate(r.query + t * queryWidth, heads: r.headCount, headDimension: r.headDimension,
                              cosines: cosines, sines: sines)
                r.rope.rotate(r.key + t * keyWidth, heads: r.kvHeadCount, headDimension: r.headDimension,
                              cosines: cosines, sines: sines)
                PagedAttention.store(
                    key: r.key + t * keyWidth, value: r.value + t * keyWidth, arena: r.kv.base, layout: r.kv.layout,
                    layer: r.layer, block: r.slots[t].block, offset: r.slots[t].offset)
            }
        }
    }
}
