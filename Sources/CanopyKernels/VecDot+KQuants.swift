/// K-quant weights × Q8_K activations (292-byte blocks: f32 `d` at 0, 256 × int8 at 4, 16 ×
/// int16 `bsums` at 260). Per super-block, ggml's formula is
/// `(d_x · d) · Σ_sub scale · Σ q_w q_x  −  (d_x · dmin) · Σ_sub min · Σ q_x`, with the
/// second term read from the precomputed `bsums`. Scalar code: these types are correct
/// rather than fast (the default model uses none of them).
extension VecDot {
    @inline(__always)
    static func q8KScale(_ x: UnsafeRawPointer) -> Float {
        Float(bitPattern: UInt32(littleEndian: x.loadUnaligned(as: UInt32.self)))
    }

    @inline(__always)
    static func bsum(_ x: UnsafeRawPointer, _ k: Int) -> Int {
        Int(Int16(littleEndian: x.loadUnaligned(fromByteOffset: 260 + 2 * k, as: Int16.self)))
    }

    /// Q2_K (84-byte blocks): 16 groups of 16, each with a 4-bit scale and 4-bit min.
    static func q2_K(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ blocks: Int) -> Float {
        var sum: Float = 0
        for b in 0..<blocks {
            let wb = w + 84 * b, xb = x + 292 * b
            let scales = wb.assumingMemoryBound(to: UInt8.self)
            let qs = scales + 16
            let q8 = (xb + 4).assumingMemoryBound(to: Int8.self)
            var isum = 0, summs = 0
            for g in 0..<16 {
                var part = 0
                for l in 0..<16 {
                    let i = 16 * g + l
                    let q = Int((qs[32 * (i >> 7) + (i & 31)] >> UInt8(2 * ((i >> 5) & 3))) & 3)
                    part += q * Int(q8[i])
                }
                isum += Int(scales[g] & 0x0F) * part
                summs += Int(scales[g] >> 4) * bsum(xb, g)
            }
            let dx = q8KScale(xb)
            sum += dx * Dequantize.half(wb, 80) * Float(isum)
                - dx * Dequantize.half(wb, 82) * Float(summs)
        }
        return sum
    }

    /// Q3_K (110-byte blocks): 16 groups of 16 with signed 6-bit scales, values −4…3.
    static func q3_K(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ blocks: Int) -> Float {
        var sum: Float = 0
        for b in 0..<blocks {
            let wb = w + 110 * b, xb = x + 292 * b
            let hmask = wb.assumingMemoryBound(to: UInt8.self)
            let qs = hmask + 32
            let scales = hmask + 96
            let q8 = (xb + 4).assumingMemoryBound(to: Int8.self)
            var isum = 0
            for g in 0..<16 {
                var part = 0
                for l in 0..<16 {
                    let i = 16 * g + l
                    let low = Int((qs[32 * (i >> 7) + (i & 31)] >> UInt8(2 * ((i >> 5) & 3))) & 3)
                    let high = Int((hmask[i & 31] >> UInt8(i >> 5)) & 1)
                    part += (low - ((high ^ 1) << 2)) * Int(q8[i])
                }
                isum += Dequantize.q3Scale(scales, g) * part
            }
            sum += q8KScale(xb) * Dequantize.half(wb, 108) * Float(isum)
        }
        return sum
    }

    /// Q4_K (144 bytes) and Q5_K (176 bytes): 8 groups of 32 with 6-bit scales and mins.
    @inline(__always)
    static func q45_K(
        _ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ blocks: Int, fiveBit: Bool
    ) -> Float {
        let blockBytes = fiveBit ? 176 : 144
        var sum: Float = 0
        for b in 0..<blocks {
            let wb = w + blockBytes * b, xb = x + 292 * b
            let scales = (wb + 4).assumingMemoryBound(to: UInt8.self)
            let qh = scales + 12
            let qs = fiveBit ? qh + 32 : qh
            let q8 = (xb + 4).assumingMemoryBound(to: Int8.self)
            var isum = 0, summs = 0
            for j in 0..<8 {
                let (sc, m) = Dequantize.kScaleMin(scales, j)
                let shift = UInt8(4 * (j & 1))
                let q = qs + 32 * (j >> 1)
                var part = 0
                for l in 0..<32 {
                    var v = Int((q[l] >> shift) & 0x0F)
                    if fiveBit { v |= Int((qh[l] >> UInt8(j)) & 1) << 4 }
                    part += v * Int(q8[32 * j + l])
                }
                isum += Int(sc) * part
                summs += Int(m) * (bsum(xb, 2 * j) + bsum(xb, 2 * j + 1))
            }
            let dx = q8KScale(xb)
            sum += dx * Dequantize.half(wb, 0) * Float(isum)
                - dx * Dequantize.half(wb, 2) * Float(summs)
        }
        return sum
    }

    static func q4_K(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ blocks: Int) -> Float {
        q45_K(w, x, blocks, fiveBit: false)
    }

    static func q5_K(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ blocks: Int) -> Float {
        q45_K(w, x, blocks, fiveBit: true)
    }

    /// Q6_K (210-byte blocks): 16 groups of 16 with int8 scales, values −32…31.
    static func q6_K(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ blocks: Int) -> Float {
        var sum: Float = 0
        for b in 0..<blocks {
            let wb = w + 210 * b, xb = x + 292 * b
            let ql = wb.assumingMemoryBound(to: UInt8.self)
            let qh = ql + 128
            let scales = (wb + 192).assumingMemoryBound(to: Int8.self)
            let q8 = (xb + 4).assumingMemoryBound(to: Int8.self)
            var isum = 0
            for g in 0..<16 {
                var part = 0
                for l in 0..<16 {
                    let i = 16 * g + l
                    let h = i >> 7
                    let low = (ql[64 * h + (i & 63)] >> UInt8(4 * ((i >> 6) & 1))) & 0x0F
                    let high = (qh[32 * h + (i & 31)] >> UInt8(2 * ((i >> 5) & 3))) & 3
                    part += (Int(low | (high << 4)) - 32) * Int(q8[i])
                }
                isum += Int(scales[g]) * part
            }
            sum += q8KScale(xb) * Dequantize.half(wb, 208) * Float(isum)
        }
        return sum
    }
}
