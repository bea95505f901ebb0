import CanopyKernels

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
    /// RoPE angles at the sliding-window layers' base (`ModelConfig.slidingWindowRopeBase`);
    /// empty for models without sliding-window layers.
    let localCosines: UnsafeMutablePointer<Float>
    let localSines: UnsafeMutablePointer<Float>
    /// [query, key, value]: outputs of the grouped attention projections.
    let projections: [UnsafeMutablePointer<Float>]
    /// One embedding-wide row of doubles per token: the output projections' products before
    /// they are rounded into `normed` (summed over the ranks first under tensor parallelism).
    let wideSums: UnsafeMutablePointer<Double>
    /// [gate, up]: outputs of the grouped feed-forward input products.
    let feedForwardInputs: [UnsafeMutablePointer<Float>]
    /// The batch's attention plan, prepared once per pass and used by every layer.
    let attentionPlan = PagedAttentionPlan()
    /// The per-token loops, run on the worker pool without allocating.
    let tokenLoops = TokenLoops()
    /// Logits of up to `headGroup` tokens for one streamed chunk of the output projection
    /// (`headChunkRows` wide); nil when the output projection is not streamed.
    let headOutput: UnsafeMutablePointer<Float>?
    let headChunkRows: Int
    /// Tokens whose logits one streamed head chunk computes at once.
    static let headGroup = 16

    /// All buffers, carved from one mapping (see `PageMemory`: a freed scratch goes back to
    /// the OS instead of staying resident in the heap).
    private let memory: PageMemory

    /// Maps the buffers, or returns nil when the memory cannot be had (the pass then fails
    /// with `ForwardError.outOfMemory`, not the process).
    init?(capacity n: Int, config c: ModelConfig, headChunkRows: Int) {
        capacity = n
        self.headChunkRows = headChunkRows
        let strides = Self.bufferBytes(capacity: n, config: c, headChunkRows: headChunkRows)
        guard let memory = PageMemory(mappingUpTo: max(strides.reduce(0, +), 1)) else { return nil }
        self.memory = memory
        var offset = 0
        var buffers: [UnsafeMutablePointer<Float>] = []
        for stride in strides {
            buffers.append((memory.base + offset).bindMemory(to: Float.self, capacity: stride / MemoryLayout<Float>.stride))
            offset += stride
        }
        (residual, normed, query, key, value, mixed) = (buffers[0], buffers[1], buffers[2], buffers[3], buffers[4], buffers[5])
        (gate, up, cosines, sines) = (buffers[6], buffers[7], buffers[8], buffers[9])
        projections = [query, key, value]
        feedForwardInputs = [gate, up]
        headOutput = headChunkRows > 0 ? buffers[10] : nil
        (localCosines, localSines) = (buffers[11], buffers[12])
        wideSums = UnsafeMutableRawPointer(buffers[13]).bindMemory(to: Double.self, capacity: n * c.embeddingLength)
        attentionPlan.reserveCapacity(queries: n, kvHeads: c.headCountKV, headCount: c.headCount, headDimension: c.headDimension)
    }

    /// The byte size of each buffer for `n` tokens, each rounded up to whole cache lines
    /// (64-byte boundaries: aligned SIMD loads), in the order the initializer carves them.
    static func bufferBytes(capacity n: Int, config c: ModelConfig, headChunkRows: Int) -> [Int] {
        let sizes = [
            n * c.embeddingLength, n * max(c.embeddingLength, c.queryWidth), n * c.queryWidth,
            n * c.keyValueWidth, n * c.keyValueWidth, n * c.queryWidth,
            n * c.feedForwardLength, n * c.feedForwardLength,
            n * c.ropeDimensionCount / 2, n * c.ropeDimensionCount / 2,
            min(n, headGroup) * headChunkRows,
            c.slidingWindow == nil ? 0 : n * c.ropeDimensionCount / 2,
            c.slidingWindow == nil ? 0 : n * c.ropeDimensionCount / 2,
            n * c.embeddingLength * MemoryLayout<Double>.stride / MemoryLayout<Float>.stride,
        ]
        return sizes.map { ($0 * MemoryLayout<Float>.stride + 63) / 64 * 64 }
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
    private let headChunkRows: Int
    private let free = Locked<[ForwardScratch]>([])
    /// Free scratches kept at most; a burst of concurrent callers does not pin memory forever.
    private let keep = 4

    /// A pool for `store`'s model: its scratches hold a streamed output projection's chunk
    /// logits when `store`'s placement streams it.
    init(config: ModelConfig, store: WeightStore) {
        self.config = config
        let placement = store.residency?.placement
        headChunkRows = placement.map { $0.headStreamed ? $0.headRows.map(\.count).max() ?? 0 : 0 } ?? 0
    }

    /// Runs `body` with a scratch for at least `tokens` tokens.
    ///
    /// - Throws: `.outOfMemory` when no free scratch fits and a new one cannot be mapped.
    func withScratch<R>(tokens: Int, _ body: (ForwardScratch) -> R) throws(ForwardError) -> R {
        let taken: ForwardScratch? = free.withLock { list in
            var best: Int?
            for i in list.indices where list[i].capacity >= tokens {
                if best.map({ list[i].capacity < list[$0].capacity }) ?? true { best = i }
            }
            return best.map { list.remove(at: $0) }
        }
        // Round capacity up so a prefill chunk a little longer than the last one reuses it.
        let capacity = max(tokens, 1).roundedUpToPowerOfTwo
        guard let scratch = taken ?? ForwardScratch(capacity: capacity, config: config, headChunkRows: headChunkRows) else {
            throw .outOfMemory(bytes: ForwardScratch.bufferBytes(
                capacity: capacity, config: config, headChunkRows: headChunkRows).reduce(0, +))
        }
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

extension ForwardScratchPool {
    /// The frame every architecture's forward pass shares: checks the arguments, takes a
    /// scratch for the batch, prepares its attention plan, and runs `body` with them and the
    /// logits' base address.
    ///
    /// - Throws: `.weightsUnreadable` once `store` failed to read weights from the file;
    ///   `.outOfMemory` when the scratch, or any kernel's working memory during the pass,
    ///   could not be had. A kernel that cannot grow its scratch skips its work and
    ///   counts the failure (`KernelMemory`); the count is process-wide, so a
    ///   failure in a concurrent pass (tools and tests only: the engine runs one pass at a
    ///   time) fails this one too, which errs on the side of never returning skipped work.
    func withPass(
        _ batch: ForwardBatch, kv: KVStorage, logits: UnsafeMutableBufferPointer<Float>, config c: ModelConfig,
        store: WeightStore, _ body: (ForwardScratch, UnsafeMutablePointer<Float>) -> Void
    ) throws(ForwardError) {
        precondition(batch.count > 0, "empty forward batch")
        precondition(kv.layout.layers == c.blockCount && kv.layout.kvHeads == c.headCountKV
                     && kv.layout.headDimension == c.headDimension, "KV layout does not match the model")
        precondition(logits.count >= batch.logitCount * c.vocabularySize, "logits buffer too small")
        let failures = KernelMemory.failureCount
        let readFailures = store.readFailures.transientCount
        try withScratch(tokens: batch.count) { scratch in
            batch.withAttentionPlan(scratch.attentionPlan, headCount: c.headCount, layout: kv.layout) {
                body(scratch, logits.baseAddress!)
            }
        }
        if KernelMemory.failureCount != failures {
            throw .outOfMemory(bytes: KernelMemory.lastFailedBytes)
        }
        // Weights that could not be read from the file left other bytes where they belong.
        let reads = store.readFailures
        if let reason = reads.permanent { throw .weightsUnreadable(reason: reason) }
        if reads.transientCount != readFailures { throw .readFailed(reason: reads.lastTransient ?? "a read failed") }
    }
}

extension ForwardScratch {
    /// The start of every architecture: each token's embedding row into `residual` (read
    /// from the file when `residency`'s placement reads the table by row), and its RoPE
    /// angles (which depend only on the position) into `cosines`/`sines`, once for all
    /// layers; with a `localRope`, also its angles into `localCosines`/`localSines`.
    ///
    /// With `embeddingRows` (a tensor-parallel rank's vocabulary), `embedding` holds only
    /// those rows, and tokens outside them get zero rows: the ranks' sum is the embedding.
    /// Without `embedding` (a later pipeline stage, whose input comes from the previous
    /// one), only the angles.
    func loadInputs(
        _ batch: ForwardBatch, embedding: WeightMatrix?, residency: WeightResidency?, rope: RoPE,
        localRope: RoPE? = nil, config c: ModelConfig, embeddingRows: Range<Int>? = nil
    ) {
        let e = c.embeddingLength
        let rowRead = residency?.placement.embeddingRows != nil ? residency : nil
        for t in 0..<batch.count {
            guard let embedding else { break }
            let token = Int(batch.tokens[t])
            precondition(token >= 0 && token < c.vocabularySize, "token id \(token) outside the vocabulary")
            if let rows = embeddingRows {
                if rows.contains(token) {
                    embedding.dequantizeRow(token - rows.lowerBound, into: residual + t * e)
                } else {
                    (residual + t * e).update(repeating: 0, count: e)
                }
            } else if let rowRead {
                // `normed` is free until the first layer and holds a row of any type (at
                // most 4 bytes a value).
                rowRead.readEmbeddingRow(token, into: normed)
                Dequantize.row(embedding.type, from: normed, into: residual + t * e, count: e)
            } else {
                embedding.dequantizeRow(token, into: residual + t * e)
            }
        }
        let half = c.ropeDimensionCount / 2
        for slice in batch.sequences {
            for i in 0..<slice.tokenCount {
                let t = slice.tokenStart + i
                rope.angles(position: slice.firstPosition + i, cosines: cosines + t * half, sines: sines + t * half)
                localRope?.angles(
                    position: slice.firstPosition + i, cosines: localCosines + t * half, sines: localSines + t * half)
            }
        }
    }

    /// The head of every architecture: the final RMSNorm of each token that wants logits
    /// (each slice's last `logitRows`, packed into `normed`), then the output projection into `logits`; chunk
    /// by chunk (each acquired from `residency`) when the placement streams it.
    func writeLogits(
        _ batch: ForwardBatch, norm: [Float], output: WeightMatrix, residency: WeightResidency?, config c: ModelConfig,
        precision: MatMulPrecision, into logits: UnsafeMutablePointer<Float>
    ) {
        let e = c.embeddingLength
        var rows = 0
        norm.withUnsafeBufferPointer { w in
            for slice in batch.sequences {
                for token in slice.logitTokens {
                    RMSNorm.apply(residual + token * e, weight: w.baseAddress!, count: e,
                                  epsilon: c.rmsNormEpsilon, output: normed + rows * e)
                    rows += 1
                }
            }
        }
        guard rows > 0 else { return }
        guard let residency, let headOutput, residency.placement.headStreamed else {
            MatMul.multiply(output, input: normed, tokens: rows, output: logits, precision: precision)
            return
        }
        // Each logit is one row's product with one token: a chunk of rows computes the same
        // bits as the whole matrix (and a group of tokens the same as all, batch invariance).
        let placement = residency.placement
        for (index, chunk) in placement.headRows.enumerated() {
            let unit = placement.blockCount + index
            residency.acquire(unit)
            let part = output.rows(chunk)
            var first = 0
            while first < rows {
                let count = min(Self.headGroup, rows - first)
                if count == 1 {
                    MatMul.multiply(part, input: normed + first * e, tokens: 1,
                                    output: logits + first * c.vocabularySize + chunk.lowerBound, precision: precision)
                } else {
                    MatMul.multiply(part, input: normed + first * e, tokens: count, output: headOutput, precision: precision)
                    for r in 0..<count {
                        (logits + (first + r) * c.vocabularySize + chunk.lowerBound)
                            .update(from: headOutput + r * chunk.count, count: chunk.count)
                    }
                }
                first += count
            }
            residency.release(unit)
        }
    }
}
