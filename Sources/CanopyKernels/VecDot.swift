/// Dot products of one row of weights with one row of activations already converted to the
/// weight type's `vecDotType` — the integer formulas of ggml's `ggml_vec_dot_*` kernels.
///
/// For the 32-value block types, each block contributes
/// `(d_w · d_x) · Σ q_w q_x` (plus `m_w · s_x` for Q4_1/Q5_1, where `s_x = d_x Σ q_x`); the
/// integer sums are exact, and only the float accumulation order across blocks may differ
/// from ggml's SIMD code.
public enum VecDot {
    /// `Σ w[i] · x[i]` over `count` values.
    ///
    /// `weights` holds `count` values in `weightType`'s layout; `activations` holds them in
    /// `weightType.vecDotType`'s block layout (see `ActivationQuantizer`), except for F32,
    /// F16 and BF16 weights, where it holds `count` `Float`s (round them to f16/bf16 first to
    /// reproduce ggml, which converts activations to the weight type).
    ///
    /// - Precondition: `weightType.vecDotType != nil` and `count` is a non-negative multiple
    ///   of `weightType.blockSize` (256 for the K-quants).
    public static func dot(
        _ weightType: GGMLType, weights: UnsafeRawPointer, activations: UnsafeRawPointer,
        count: Int
    ) -> Float {
        precondition(weightType.vecDotType != nil, "VecDot: unsupported weight type \(weightType)")
        precondition(
            count >= 0 && count % weightType.blockSize == 0,
            "VecDot: \(count) values is not a whole number of \(weightType) blocks")
        return kernel(for: weightType)(weights, activations, count)
    }

    /// A dot-product kernel: `(weights, activations, count) -> Σ`.
    typealias Kernel = (UnsafeRawPointer, UnsafeRawPointer, Int) -> Float

    /// The kernel for `weightType`; the caller has checked that it has a `vecDotType`.
    static func kernel(for weightType: GGMLType) -> Kernel {
        switch weightType {
        case .f32:
            return { w, x, n in
                FloatDot.dot(w.assumingMemoryBound(to: Float.self), x.assumingMemoryBound(to: Float.self), n)
            }
        case .f16: return { w, x, n in f16Dot(w, x.assumingMemoryBound(to: Float.self), n) }
        case .bf16: return { w, x, n in bf16Dot(w, x.assumingMemoryBound(to: Float.self), n) }
        case .q8_0: return { w, x, n in q8_0(w, x, n / 32) }
        case .q4_0: return { w, x, n in q4_0(w, x, n / 32) }
        case .q5_0: return { w, x, n in q5_0(w, x, n / 32) }
        case .q4_1: return { w, x, n in q4_1(w, x, n / 32) }
        case .q5_1: return { w, x, n in q5_1(w, x, n / 32) }
        case .q2_K: return { w, x, n in q2_K(w, x, n / 256) }
        case .q3_K: return { w, x, n in q3_K(w, x, n / 256) }
        case .q4_K: return { w, x, n in q4_K(w, x, n / 256) }
        case .q5_K: return { w, x, n in q5_K(w, x, n / 256) }
        case .q6_K: return { w, x, n in q6_K(w, x, n / 256) }
        case .q8_1, .q8_K, .i8, .i16, .i32, .i64, .f64:
            preconditionFailure("VecDot: unsupported weight type \(weightType)")
        }
    }

    // The integer block sums below are plain loops over bytes: LLVM's loop vectorizer turns
    // these widening multiply-add reductions into packed multiply-adds (`pmaddwd`), which is
    // much faster than Swift's generic SIMD widening conversions.

    /// Σ a[j]·b[j] over one block of 32 int8 pairs.
    @inline(__always)
    static func int8Dot32(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Int32 {
        let a = a.assumingMemoryBound(to: Int8.self), b = b.assumingMemoryBound(to: Int8.self)
        var s: Int32 = 0
        for j in 0..<32 { s &+= Int32(a[j]) &* Int32(b[j]) }
        return s
    }

    /// Σ q[j]·b[j] where q[j] is nibble j of a 16-byte Q4 block (low nibbles first) and b is
    /// 32 int8.
    @inline(__always)
    static func nibbleDot32(_ q: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Int32 {
        let q = q.assumingMemoryBound(to: UInt8.self), b = b.assumingMemoryBound(to: Int8.self)
        var s: Int32 = 0
        for j in 0..<16 {
            s &+= Int32(q[j] & 0x0F) &* Int32(b[j]) &+ Int32(q[j] >> 4) &* Int32(b[j + 16])
        }
        return s
    }

    /// Σ b[j] over 32 int8.
    @inline(__always)
    static func int8Sum32(_ b: UnsafeRawPointer) -> Int32 {
        let b = b.assumingMemoryBound(to: Int8.self)
        var s: Int32 = 0
        for j in 0..<32 { s &+= Int32(b[j]) }
        return s
    }

    /// Σ q[j]·b[j] for a Q5 block (`qh` at `p`, nibbles at `p + 4`) and 32 int8.
    @inline(__always)
    static func fiveBitDot32(_ p: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Int32 {
        let qh = UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))
        let q = (p + 4).assumingMemoryBound(to: UInt8.self), y = b.assumingMemoryBound(to: Int8.self)
        var s: Int32 = 0
        for j in 0..<16 {
            let lo = Int32(q[j] & 0x0F) | Int32((qh >> UInt32(j)) & 1) << 4
            let hi = Int32(q[j] >> 4) | Int32((qh >> UInt32(j + 16)) & 1) << 4
            s &+= lo &* Int32(y[j]) &+ hi &* Int32(y[j + 16])
        }
        return s
    }

    /// Q8_0 weights (34-byte blocks) × Q8_0 activations.
    static func q8_0(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ blocks: Int) -> Float {
        var sum: Float = 0
        for b in 0..<blocks {
            let wb = w + 34 * b, xb = x + 34 * b
            let d = Dequantize.half(wb, 0) * Dequantize.half(xb, 0)
            sum += Float(int8Dot32(wb + 2, xb + 2)) * d
        }
        return sum
    }

    /// Q4_1 weights (20-byte blocks) × Q8_1 activations (36-byte blocks).
    static func q4_1(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ blocks: Int) -> Float {
        var sum: Float = 0
        var mins: Float = 0
        for b in 0..<blocks {
            let wb = w + 20 * b, xb = x + 36 * b
            let d = Dequantize.half(wb, 0) * Dequantize.half(xb, 0)
            mins += Dequantize.half(wb, 2) * Dequantize.half(xb, 2)
            sum += Float(nibbleDot32(wb + 4, xb + 4)) * d
        }
        return sum + mins
    }

    /// Q4_0 weights (18-byte blocks) × Q8_0 activations: weight values are nibble − 8.
    static func q4_0(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ blocks: Int) -> Float {
        var sum: Float = 0
        for b in 0..<blocks {
            let wb = w + 18 * b, xb = x + 34 * b
            let d = Dequantize.half(wb, 0) * Dequantize.half(xb, 0)
            let s = nibbleDot32(wb + 2, xb + 2) &- 8 &* int8Sum32(xb + 2)
            sum += Float(s) * d
        }
        return sum
    }

    /// Q5_0 weights (22-byte blocks) × Q8_0 activations: weight values are q − 16.
    static func q5_0(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ blocks: Int) -> Float {
        var sum: Float = 0
        for b in 0..<blocks {
            let wb = w + 22 * b, xb = x + 34 * b
            let d = Dequantize.half(wb, 0) * Dequantize.half(xb, 0)
            let s = fiveBitDot32(wb + 2, xb + 2) &- 16 &* int8Sum32(xb + 2)
            sum += Float(s) * d
        }
        return sum
    }

    /// Q5_1 weights (24-byte blocks) × Q8_1 activations.
    static func q5_1(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ blocks: Int) -> Float {
        var sum: Float = 0
        var mins: Float = 0
        for b in 0..<blocks {
            let wb = w + 24 * b, xb = x + 36 * b
            let d = Dequantize.half(wb, 0) * Dequantize.half(xb, 0)
            mins += Dequantize.half(wb, 2) * Dequantize.half(xb, 2)
            sum += Float(fiveBitDot32(wb + 4, xb + 4)) * d
        }
        return sum + mins
    }

    /// F16 weights × `Float` activations, in f32 arithmetic (as ggml after widening).
    static func f16Dot(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            var v = SIMD8<Float>()
            for l in 0..<8 { v[l] = Dequantize.half(w, 2 * (i + l)) }
            acc += v * UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var sum = acc.sum()
        while i < n {
            sum += Dequantize.half(w, 2 * i) * x[i]
            i += 1
        }
        return sum
    }

    /// BF16 weights × `Float` activations, in f32 arithmetic.
    static func bf16Dot(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var sum: Float = 0
        for i in 0..<n {
            sum += HalfFloat.bfloat16ToFloat(w.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) * x[i]
        }
        return sum
    }
}
