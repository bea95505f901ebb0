/// `Float` dot products with SIMD accumulators (plain multiply then add: no fused
/// multiply-add, which baseline x86-64 would turn into a library call).
enum FloatDot {
    /// Σ a[i]·b[i] for i < n; any alignment.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        var i = 0
        while i + 32 <= n {
            acc0 += load16(a + i) * load16(b + i)
            acc1 += load16(a + i + 16) * load16(b + i + 16)
            i += 32
        }
        if i + 16 <= n {
            acc0 += load16(a + i) * load16(b + i)
            i += 16
        }
        var sum = (acc0 + acc1).sum()
        while i < n {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    /// The dot products of four rows (`a`, `a + stride`, …) with `b`, sharing each load of `b`.
    @inline(__always)
    static func dot4(
        _ a: UnsafePointer<Float>, stride: Int, _ b: UnsafePointer<Float>, _ n: Int
    ) -> SIMD4<Float> {
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        var acc2 = SIMD16<Float>(), acc3 = SIMD16<Float>()
        let a1 = a + stride, a2 = a + 2 * stride, a3 = a + 3 * stride
        var i = 0
        while i + 16 <= n {
            let x = load16(b + i)
            acc0 += load16(a + i) * x
            acc1 += load16(a1 + i) * x
            acc2 += load16(a2 + i) * x
            acc3 += load16(a3 + i) * x
            i += 16
        }
        var s = SIMD4<Float>(acc0.sum(), acc1.sum(), acc2.sum(), acc3.sum())
        while i < n {
            s += SIMD4(a[i], a1[i], a2[i], a3[i]) * b[i]
            i += 1
        }
        return s
    }

    @inline(__always)
    static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }
}
