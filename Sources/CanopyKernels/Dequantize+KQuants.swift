/// The 256-value "K-quant" super-blocks. Byte offsets follow ggml's `block_qN_K` structs;
/// the value order follows gguf-py's reference `dequantize_blocks`.
extension Dequantize {
    /// Q4_K/Q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes: entries 0–3 sit
    /// in the low 6 bits of bytes 0–3 (scales) and 4–7 (mins); entries 4–7 take their low 4
    /// bits from bytes 8–11 and their top 2 bits from the top bits of bytes 0–7.
    @inline(__always)
    static func kScaleMin(_ s: UnsafePointer<UInt8>, _ j: Int) -> (scale: UInt8, min: UInt8) {
        if j < 4 {
            return (s[j] & 0x3F, s[j + 4] & 0x3F)
        }
        return ((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }

    /// Q3_K packs sixteen 6-bit scales (stored biased by 32) into 12 bytes: low 4 bits in the
    /// nibbles of bytes 0–7 (low nibbles first), top 2 bits in the bit pairs of bytes 8–11.
    @inline(__always)
    static func q3Scale(_ s: UnsafePointer<UInt8>, _ k: Int) -> Int {
        let low = k < 8 ? s[k] & 0x0F : s[k - 8] >> 4
        let high = (s[8 + (k & 3)] >> UInt8(2 * (k >> 2))) & 3
        return Int(low | (high << 4)) - 32
    }

    /// Q2_K: scales[16] (low nibble scale, high nibble min per 16 values), qs[64] (2-bit
    /// values), f16 `d`, f16 `dmin`. Value `i = 128h + 32s + l` is bits `2s…2s+1` of
    /// `qs[32h + l]`; value = `(d * sc) * q - (dmin * m)`.
    @inline(__always)
    static func q2_KBlock(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let scales = p.assumingMemoryBound(to: UInt8.self)
        let qs = scales + 16
        let d = half(p, 80)
        let dmin = half(p, 82)
        for i in 0..<256 {
            let h = i >> 7, s = (i >> 5) & 3, l = i & 31
            let q = (qs[32 * h + l] >> UInt8(2 * s)) & 3
            let sc = scales[i >> 4]
            let dl = d * Float(sc & 0x0F)
            let ml = dmin * Float(sc >> 4)
            out[i] = dl * Float(q) - ml
        }
    }

    /// Q3_K: hmask[32], qs[64] (2-bit low parts, laid out as in Q2_K), scales[12], f16 `d`.
    /// Value `i` has high bit `(hmask[i % 32] >> (i / 32)) & 1`; a clear high bit means
    /// subtract 4. value = `(d * scale) * q`.
    @inline(__always)
    static func q3_KBlock(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let hmask = p.assumingMemoryBound(to: UInt8.self)
        let qs = hmask + 32
        let scales = hmask + 96
        let d = half(p, 108)
        for i in 0..<256 {
            let h = i >> 7, s = (i >> 5) & 3, l = i & 31
            let low = Int((qs[32 * h + l] >> UInt8(2 * s)) & 3)
            let high = Int((hmask[l] >> UInt8(i >> 5)) & 1)
            let q = low - ((high ^ 1) << 2)
            let dl = d * Float(q3Scale(scales, i >> 4))
            out[i] = dl * Float(q)
        }
    }

    /// Q4_K: f16 `d`, f16 `dmin`, scales[12] (see `kScaleMin`), qs[128]. Value
    /// `i = 64c + 32n + l` is nibble `n` of `qs[32c + l]`; value =
    /// `(d * sc) * q - (dmin * m)` with the scale/min of sub-block `i / 32`.
    @inline(__always)
    static func q4_KBlock(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let dmin = half(p, 2)
        let scales = (p + 4).assumingMemoryBound(to: UInt8.self)
        let qs = scales + 12
        for j in 0..<8 {
            let (sc, m) = kScaleMin(scales, j)
            let dl = d * Float(sc)
            let ml = dmin * Float(m)
            let shift = UInt8(4 * (j & 1))
            let q = qs + 32 * (j >> 1)
            for l in 0..<32 {
                out[32 * j + l] = dl * Float((q[l] >> shift) & 0x0F) - ml
            }
        }
    }

    /// Q5_K: as Q4_K plus qh[32] before the nibbles; value `i` gains fifth bit
    /// `(qh[i % 32] >> (i / 32)) & 1`.
    @inline(__always)
    static func q5_KBlock(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let dmin = half(p, 2)
        let scales = (p + 4).assumingMemoryBound(to: UInt8.self)
        let qh = scales + 12
        let qs = qh + 32
        for j in 0..<8 {
            let (sc, m) = kScaleMin(scales, j)
            let dl = d * Float(sc)
            let ml = dmin * Float(m)
            let shift = UInt8(4 * (j & 1))
            let q = qs + 32 * (j >> 1)
            for l in 0..<32 {
                let v = ((q[l] >> shift) & 0x0F) | (((qh[l] >> UInt8(j)) & 1) << 4)
                out[32 * j + l] = dl * Float(v) - ml
            }
        }
    }

    /// Q6_K: ql[128], qh[64], int8 scales[16], f16 `d`. Value `i = 128h + 64n + l` (l < 64)
    /// has low nibble `n` of `ql[64h + l]`; value `i = 128h + 32s + l` (l < 32) has high bits
    /// `(qh[32h + l] >> 2s) & 3`; value = `(d * scale) * (q - 32)`.
    @inline(__always)
    static func q6_KBlock(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let ql = p.assumingMemoryBound(to: UInt8.self)
        let qh = ql + 128
        let scales = (p + 192).assumingMemoryBound(to: Int8.self)
        let d = half(p, 208)
        for i in 0..<256 {
            let h = i >> 7
            let low = (ql[64 * h + (i & 63)] >> UInt8(4 * ((i >> 6) & 1))) & 0x0F
            let high = (qh[32 * h + (i & 31)] >> UInt8(2 * ((i >> 5) & 3))) & 3
            let q = Int(low | (high << 4)) - 32
            let dl = d * Float(scales[i >> 4])
            out[i] = dl * Float(q)
        }
    }
}
