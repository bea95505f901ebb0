import CCanopyKernels

extension GGMLType {
    /// The type ggml converts activations to before a dot product with weights of this type
    /// (its `vec_dot_type`): Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the
    /// K-quants, and the weight's own type for F32/F16/BF16. `nil` for types `MatMul` does
    /// not support.
    public var vecDotType: GGMLType? {
        switch self {
        case .f32, .f16, .bf16: return self
        case .q4_0, .q5_0, .q8_0: return .q8_0
        case .q4_1, .q5_1: return .q8_1
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: return .q8_K
        case .q8_1, .q8_K, .i8, .i16, .i32, .i64, .f64: return nil
        }
    }
}

/// Quantizes `Float` activations into ggml's 8-bit activation blocks, producing the same
/// bytes as llama.cpp's x86 CPU backend (AVX2 build).
///
/// Block layouts are ggml's: Q8_0 = f16 `d` + 32 × int8 (34 bytes); Q8_1 = f16 `d` + f16
/// `s` + 32 × int8 (36 bytes); Q8_K = f32 `d` + 256 × int8 + 16 × int16 `bsums` (292 bytes).
public enum ActivationQuantizer {
    /// Writes `type.byteCount(forElements: count)` bytes of `type` blocks for `x` to `dst`.
    ///
    /// - Precondition: `type` is `.q8_0`, `.q8_1` or `.q8_K`; `count` is a non-negative
    ///   multiple of its block size; `x` holds `count` finite values.
    public static func quantizeRow(
        _ type: GGMLType, from x: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer,
        count: Int
    ) {
        precondition(
            count >= 0 && count % type.blockSize == 0,
            "ActivationQuantizer: \(count) values is not a whole number of \(type) blocks")
        let blocks = count / type.blockSize
        switch type {
        case .q8_0:
            for b in 0..<blocks { q8Block(x + 32 * b, dst + 34 * b, withSum: false) }
        case .q8_1:
            for b in 0..<blocks { q8Block(x + 32 * b, dst + 36 * b, withSum: true) }
        case .q8_K:
            for b in 0..<blocks { q8_KBlock(x + 256 * b, dst + 292 * b) }
        default:
            preconditionFailure("ActivationQuantizer: cannot quantize activations to \(type)")
        }
    }

    /// `quantizeRow(.q8_K, ...)` for `tokens` rows of `cols` values at once, in C
    /// (`canopy_q8k_quantize`: SIMD where the CPU has it, the same bytes at every level), the
    /// rows split across the worker pool: how K-quant products quantize their input.
    ///
    /// - Precondition: `cols` is a multiple of 256; `dst` holds `tokens` Q8_K rows.
    public static func quantizeRowsQ8_K(
        _ x: UnsafePointer<Float>, tokens: Int, cols: Int, into dst: UnsafeMutableRawPointer
    ) {
        precondition(tokens >= 0 && cols >= 0 && cols % 256 == 0, "ActivationQuantizer: Q8_K needs whole 256-value blocks")
        canopy_q8k_quantize(WorkerPool.shared.cPool, x, Int64(tokens), Int64(cols), dst)
    }

    /// Q8_0 / Q8_1 as ggml's AVX2 `quantize_row_q8_0` / `quantize_row_q8_1` compute them:
    /// `d = amax / 127` stored as f16, values `round(x * (127 / amax))` with ties to even
    /// (AVX `_mm256_round_ps`), and for Q8_1 `s = f16(d * Σq)`. The reference C code
    /// differs slightly (`x * (1/d)`, ties away from zero); we follow what llama.cpp runs.
    @inline(__always)
    static func q8Block(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer, withSum: Bool) {
        let qs = (out + (withSum ? 4 : 2)).assumingMemoryBound(to: Int8.self)
        let (d, s) = q8Values(x, qs)
        out.storeBytes(of: d.littleEndian, as: UInt16.self)
        if withSum { (out + 2).storeBytes(of: s.littleEndian, as: UInt16.self) }
    }

    /// The shared core of Q8_0/Q8_1: writes the 32 int8 values to `qs` and returns the f16
    /// bits of `d` and of Q8_1's `s = d * Σq`.
    @inline(__always)
    static func q8Values(
        _ x: UnsafePointer<Float>, _ qs: UnsafeMutablePointer<Int8>
    ) -> (d: UInt16, s: UInt16) {
        var amax: Float = 0
        for j in 0..<32 { amax = max(amax, abs(x[j])) }
        let d = amax / 127
        let id: Float = amax != 0 ? 127 / amax : 0
        var sum: Int32 = 0
        for j in 0..<32 {
            let q = Int8((x[j] * id).rounded(.toNearestOrEven))
            qs[j] = q
            sum += Int32(q)
        }
        return (HalfFloat.fromFloat(d), HalfFloat.fromFloat(d * Float(sum)))
    }

    /// Q8_K as ggml's `quantize_row_q8_K_ref` computes it (x86 uses the reference): `max`
    /// is the first value of largest magnitude, `iscale = -127 / max`, values
    /// `min(127, round(iscale * x))` ties to even (ggml's `nearest_int`), `d = 1 / iscale`,
    /// and `bsums[k]` the sum of values `16k ..< 16k + 16`. An all-zero block gets `d = 0`.
    @inline(__always)
    static func q8_KBlock(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var amax: Float = 0
        var maxValue: Float = 0
        for j in 0..<256 {
            let ax = abs(x[j])
            if ax > amax {
                amax = ax
                maxValue = x[j]
            }
        }
        let qs = (out + 4).assumingMemoryBound(to: Int8.self)
        let bsums = out + 260
        if amax == 0 {
            out.storeBytes(of: Float(0).bitPattern.littleEndian, as: UInt32.self)
            (out + 4).initializeMemory(as: UInt8.self, repeating: 0, count: 288)
            return
        }
        let iscale = -127 / maxValue
        for j in 0..<256 {
            qs[j] = Int8(min(127, (iscale * x[j]).rounded(.toNearestOrEven)))
        }
        for k in 0..<16 {
            var sum: Int16 = 0
            for l in 0..<16 { sum += Int16(qs[16 * k + l]) }
            bsums.storeBytes(of: sum.littleEndian, toByteOffset: 2 * k, as: Int16.self)
        }
        out.storeBytes(of: (1 / iscale).bitPattern.littleEndian, as: UInt32.self)
    }
}
