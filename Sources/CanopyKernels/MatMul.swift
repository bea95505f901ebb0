
/// How `MatMul` treats activations.
public enum MatMulPrecision: Sendable {
    /// Dequantized weights × `Float` activations, in `Float` arithmetic.
    case float32
    /// What llama.cpp's CPU backend does: activations are first converted to the weight
    /// type's `vecDotType` (8-bit blocks for quantized weights, f16/bf16 for F16/BF16
    /// weights) and the products use ggml's integer dot-product formulas.
    case quantizedActivations
}

/// Matrix × activation products for `WeightMatrix` weights, split across threads by rows.
public enum MatMul {
    /// y[t*rows + r] = Σ_c W[r, c] · x[t*cols + c] for t in 0..<tokens.
    ///
    /// `x` holds `tokens` rows of `w.cols` values; `y` receives `tokens` rows of `w.rows`
    /// values and must not overlap `x`. Allocates nothing proportional to the weights; with
    /// `.quantizedActivations` it allocates one buffer for the converted activations.
    ///
    /// - Precondition: `tokens >= 0`.
    public static func multiply(
        _ w: WeightMatrix, input x: UnsafePointer<Float>, tokens: Int,
        output y: UnsafeMutablePointer<Float>, precision: MatMulPrecision
    ) {
        precondition(tokens >= 0, "MatMul: negative token count \(tokens)")
        guard tokens > 0, w.rows > 0 else { return }
        if w.cols == 0 {
            y.initialize(repeating: 0, count: tokens * w.rows)
            return
        }
        switch (precision, w.type) {
        case (_, .f32), (.float32, _):
            floatProduct(w, x, tokens, y)
        case (.quantizedActivations, .f16), (.quantizedActivations, .bf16):
            // ggml converts the activations to the weight type, then multiplies in f32.
            let count = tokens * w.cols
            let rounded = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { rounded.deallocate() }
            if w.type == .f16 {
                rounded.initialize(from: x, count: count)
                HalfFloat.roundRowToHalf(rounded, count: count)
            } else {
                for i in 0..<count { rounded[i] = HalfFloat.roundedToBFloat16(x[i]) }
            }
            floatProduct(w, rounded, tokens, y)
        case (.quantizedActivations, .q4_0), (.quantizedActivations, .q4_1), (.quantizedActivations, .q5_0),
            (.quantizedActivations, .q5_1), (.quantizedActivations, .q8_0):
            integerProduct(w, x, tokens, y)
        case (.quantizedActivations, .q2_K), (.quantizedActivations, .q3_K), (.quantizedActivations, .q4_K),
            (.quantizedActivations, .q5_K), (.quantizedActivations, .q6_K):
            kQuantProduct(w, x, tokens, y)
        case (.quantizedActivations, let type):
            preconditionFailure("MatMul: no quantized-activation product for \(type) weights")
        }
    }

    /// Runs `body` over `0..<rows` in chunks of whole `granule`s, in parallel on the shared
    /// `WorkerPool` when the work (`rows × costPerRow`, in multiply-adds) is big enough to
    /// pay for the fork-join.
    static func forEachRowChunk(
        rows: Int, costPerRow: Int, granule: Int, _ body: (Range<Int>) -> Void
    ) {
        let minimumWork = 1 << 15
        let pool = WorkerPool.shared
        let threads = pool.threadCount
        if threads == 1 || rows <= granule || rows * costPerRow < minimumWork {
            body(0..<rows)
            return
        }
        let granules = (rows + granule - 1) / granule
        // A few chunks per thread so a thread slowed by another process does not hold up
        // the whole product.
        let chunks = min(granules, threads * 4)
        pool.forEach(chunks) { i in
            let lo = granules * i / chunks * granule
            let hi = min(rows, granules * (i + 1) / chunks * granule)
            if lo < hi { body(lo..<hi) }
        }
    }

    /// `.float32` products (and F32 weights in either mode): tiles of 4 rows are
    /// dequantized into a per-chunk scratch buffer, then each tile serves every token.
    static func floatProduct(
        _ w: WeightMatrix, _ x: UnsafePointer<Float>, _ tokens: Int,
        _ y: UnsafeMutablePointer<Float>
    ) {
        let rows = w.rows, cols = w.cols
        let inPlace = w.type == .f32
        forEachRowChunk(rows: rows, costPerRow: cols * tokens, granule: 4) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: inPlace ? 0 : 4 * cols) { buf in
                var r = range.lowerBound
                while r < range.upperBound {
                    let n = min(4, range.upperBound - r)
                    let tile: UnsafePointer<Float>
                    if inPlace {
                        tile = w.row(r).assumingMemoryBound(to: Float.self)
                    } else {
                        for i in 0..<n {
                            Dequantize.row(w.type, from: w.row(r + i), into: buf.baseAddress! + i * cols, count: cols)
                        }
                        tile = UnsafePointer(buf.baseAddress!)
                    }
                    for t in 0..<tokens {
                        let xt = x + t * cols
                        let yt = y + t * rows + r
                        if n == 4 {
                            let s = FloatDot.dot4(tile, stride: cols, xt, cols)
                            yt[0] = s[0]; yt[1] = s[1]; yt[2] = s[2]; yt[3] = s[3]
                        } else {
                            for i in 0..<n { yt[i] = FloatDot.dot(tile + i * cols, xt, cols) }
                        }
                    }
                    r += n
                }
            }
        }
    }
}
