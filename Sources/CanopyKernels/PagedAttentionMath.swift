/// The floating-point primitives of paged attention.
///
/// Batch invariance rests on these: every (query, key) dot product, every exponential and
/// every accumulation step is computed by exactly one scheme, whatever loop calls it, so a
/// query's result depends only on the operations its own position implies. Multi-row
/// variants therefore repeat the single-row operation sequence per row (they only share
/// loads); no variant may reassociate. Plain multiply then add throughout: baseline
/// x86-64 has no fused multiply-add, and mixing the two would break bit-equality.
enum PagedAttentionMath {
    /// Σ q[i]·k[i] for i < n: one `SIMD8` accumulator over whole groups of 8, its lane sum,
    /// then the remaining elements in order.
    @inline(__always)
    static func dot(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            acc += load8(q + i) * load8(k + i)
            i += 8
        }
        var sum = acc.sum()
        while i < n {
            sum += q[i] * k[i]
            i += 1
        }
        return sum
    }

    /// `dot(q, k_r, n)` for four key rows at once (sharing the loads of `q`); each lane is
    /// bit-identical to the single-row `dot`.
    @inline(__always)
    static func dot4(
        _ q: UnsafePointer<Float>,
        _ k0: UnsafePointer<Float>, _ k1: UnsafePointer<Float>,
        _ k2: UnsafePointer<Float>, _ k3: UnsafePointer<Float>, _ n: Int
    ) -> SIMD4<Float> {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            let x = load8(q + i)
            a0 += x * load8(k0 + i)
            a1 += x * load8(k1 + i)
            a2 += x * load8(k2 + i)
            a3 += x * load8(k3 + i)
            i += 8
        }
        var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
        while i < n {
            let x = q[i]
            s0 += x * k0[i]
            s1 += x * k1[i]
            s2 += x * k2[i]
            s3 += x * k3[i]
            i += 1
        }
        return SIMD4(s0, s1, s2, s3)
    }

    /// `acc[d] = acc[d]·correction` (skipped when `correction == 1`, which is exact), then
    /// `acc[d] += w[j]·v_j[d]` for `j` in `0..<count` in order, for every `d < n`.
    ///
    /// Each element sees the same sequence of operations whatever the slicing of `d`, so the
    /// SIMD slices and the scalar tail agree bit for bit with a plain loop.
    @inline(__always)
    static func accumulate(
        _ acc: UnsafeMutablePointer<Float>, correction: Float,
        weights w: UnsafePointer<Float>, rows v: UnsafePointer<UnsafePointer<Float>>,
        count: Int, _ n: Int
    ) {
        var d = 0
        while d + 32 <= n {
            var a0 = load16(acc + d), a1 = load16(acc + d + 16)
            if correction != 1 {
                a0 *= correction
                a1 *= correction
            }
            for j in 0..<count {
                let weight = w[j]
                let row = v[j] + d
                a0 += weight * load16(row)
                a1 += weight * load16(row + 16)
            }
            store16(a0, acc + d)
            store16(a1, acc + d + 16)
            d += 32
        }
        while d + 8 <= n {
            var a = load8(acc + d)
            if correction != 1 { a *= correction }
            for j in 0..<count { a += w[j] * load8(v[j] + d) }
            UnsafeMutableRawPointer(acc + d).storeBytes(of: a, as: SIMD8<Float>.self)
            d += 8
        }
        while d < n {
            var a = acc[d]
            if correction != 1 { a *= correction }
            for j in 0..<count { a += w[j] * v[j][d] }
            acc[d] = a
            d += 1
        }
    }

    /// ln 2 split so that `n · ln2High` is exact for the exponents reached.
    static let ln2High: Float = 0.693_359_375
    static let ln2Low: Float = -2.121_944_4e-4
    /// Below this, `exp` is under the smallest normal float and is returned as 0.
    static let expLowest: Float = -87.336_54

    /// e^x lane by lane (Cephes-style: x = n·ln2 + r, a degree-6 polynomial in r, then the
    /// exponent added to n), within about 2 ulp for normal results; 0 below `expLowest`
    /// (including -inf). Meant for x ≤ 0 (scores minus their running maximum); inputs are
    /// clamped at 88 so the exponent bits cannot overflow. Lanes are independent, so a
    /// value's result does not depend on its neighbours.
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

    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always)
    static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }
}

private extension UInt32 {
    var asInt32: Int32 { Int32(bitPattern: self) }
}
