/// Floating-point primitives computed lane by lane in Swift's `SIMD8`, the same operations
/// on every CPU: the exponential of the attention softmax (and of the SwiGLU gate, whose C loop
/// in CCanopyKernels repeats `exp`'s operations, tested to give its bits).
///
/// Batch invariance rests on these and on the C loops: every (query, key) dot product, every
/// exponential and every accumulation step is computed by exactly one scheme (per
/// instruction-set level, for the C loops), whatever loop calls it, so a value's result
/// depends only on its own inputs, never on the batch or the lanes around it.
enum VectorMath {
    /// ln 2 split so that `n · ln2High` is exact for the exponents reached.
    static let ln2High: Float = 0.693_359_375
    static let ln2Low: Float = -2.121_944_4e-4
    /// Below this, `exp` is under the smallest normal float and is returned as 0.
    static let expLowest: Float = -87.336_54

    /// e^x lane by lane (Cephes-style: x = n·ln2 + r, a degree-6 polynomial in r, then the
    /// exponent added to n), within about 2 ulp for normal results; 0 below `expLowest`
    /// (including -inf). Attention calls it on x ≤ 0 (scores minus their running maximum),
    /// SwiGLU on any x; inputs are clamped at 88 (e^88 ≈ 1.7e38, still finite) so the exponent
    /// bits cannot overflow. Lanes are independent, so a value's result does not depend on
    /// its neighbours.
    @inline(__always)
    static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        // Masked selects rather than `clamped`, which is not inlined for SIMD8.
        let tooLow = x .< expLowest
        let clamped = x.replacing(with: expLowest, where: tooLow).replacing(with: 88, where: x .> 88)
        // Adding 1.5·2^23 rounds to an integer (ties to even) in the low mantissa bits:
        // SSE2 has no vector round instruction.
        let magic: Float = 12_582_912
        let shifted = clamped * 1.442_695_04 + magic
        let n = shifted - magic
        let r = clamped - n * ln2High - n * ln2Low
        var p = 1.987_569_15e-4 * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        let y = p * (r * r) + r + 1
        let biased = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- magic.bitPattern.asInt32 &+ 127) &<< 23
        let result = y * unsafeBitCast(biased, to: SIMD8<Float>.self)
        return result.replacing(with: 0, where: tooLow)
    }

    /// `exp` of one value (lane 0 of the vector form, so it agrees with it bit for bit).
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        exp(SIMD8(repeating: x))[0]
    }
}

private extension UInt32 {
    var asInt32: Int32 { Int32(bitPattern: self) }
}
