extension GGMLType {
    /// Whether `Dequantize.row` (and therefore `MatMul`) supports this type.
    public var isDequantizable: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1,
            .q2_K, .q3_K, .q4_K, .q5_K, .q6_K:
            return true
        case .q8_1, .q8_K, .i8, .i16, .i32, .i64, .f64:
            return false
        }
    }
}

/// Expands rows of GGML blocks into `Float` values.
///
/// Every type produces exactly the values gguf-py's `gguf.quants.dequantize` (and ggml's
/// `dequantize_row_*`) produce, bit for bit: each value is computed with the same
/// operations in the same order (for example `d * q + m` for Q4_1, `(d * sc) * q - dmin * m`
/// for the K-quants), with no fused multiply-adds.
public enum Dequantize {
    /// Writes the `count` values stored at `src` in `type`'s block layout to `dst`.
    ///
    /// - Precondition: `type.isDequantizable`, `count >= 0` and `count` is a multiple of
    ///   `type.blockSize`. `src` must hold `type.byteCount(forElements: count)` bytes (any
    ///   alignment) and `dst` room for `count` values.
    public static func row(
        _ type: GGMLType, from src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>,
        count: Int
    ) {
        precondition(type.isDequantizable, "Dequantize.row: type \(type) is not supported")
        precondition(
            count >= 0 && count % type.blockSize == 0,
            "Dequantize.row: \(count) values is not a whole number of \(type) blocks")
        let blocks = count / type.blockSize
        let size = type.typeSize
        let n = type.blockSize
        switch type {
        case .f32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
        case .f16:
            for i in 0..<count {
                dst[i] = HalfFloat.toFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
        case .bf16:
            for i in 0..<count {
                dst[i] = HalfFloat.bfloat16ToFloat(
                    src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
        case .q8_0:
            for b in 0..<blocks { q8_0Block(src + b * size, dst + b * n) }
        case .q4_0:
            for b in 0..<blocks { q4_0Block(src + b * size, dst + b * n) }
        case .q4_1:
            for b in 0..<blocks { q4_1Block(src + b * size, dst + b * n) }
        case .q5_0:
            for b in 0..<blocks { q5_0Block(src + b * size, dst + b * n) }
        case .q5_1:
            for b in 0..<blocks { q5_1Block(src + b * size, dst + b * n) }
        case .q2_K:
            for b in 0..<blocks { q2_KBlock(src + b * size, dst + b * n) }
        case .q3_K:
            for b in 0..<blocks { q3_KBlock(src + b * size, dst + b * n) }
        case .q4_K:
            for b in 0..<blocks { q4_KBlock(src + b * size, dst + b * n) }
        case .q5_K:
            for b in 0..<blocks { q5_KBlock(src + b * size, dst + b * n) }
        case .q6_K:
            for b in 0..<blocks { q6_KBlock(src + b * size, dst + b * n) }
        case .q8_1, .q8_K, .i8, .i16, .i32, .i64, .f64:
            preconditionFailure("unreachable: isDequantizable was checked")
        }
    }

    /// Reads the f16 stored at `offset` (any alignment) as a `Float`.
    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        HalfFloat.toFloat(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// Q8_0: f16 `d`, 32 × int8 `q`; value = `q * d`.
    @inline(__always)
    static func q8_0Block(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let qs = (p + 2).assumingMemoryBound(to: Int8.self)
        for j in 0..<32 { out[j] = Float(qs[j]) * d }
    }

    /// Q4_0: f16 `d`, 16 bytes of nibbles (value `j` in the low nibble of byte `j`, value
    /// `j + 16` in its high nibble); value = `(q - 8) * d`.
    @inline(__always)
    static func q4_0Block(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let qs = (p + 2).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            out[j] = d * Float(Int(qs[j] & 0x0F) - 8)
            out[j + 16] = d * Float(Int(qs[j] >> 4) - 8)
        }
    }

    /// Q4_1: f16 `d`, f16 `m`, 16 nibble bytes as in Q4_0; value = `d * q + m`.
    @inline(__always)
    static func q4_1Block(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let m = half(p, 2)
        let qs = (p + 4).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            out[j] = d * Float(qs[j] & 0x0F) + m
            out[j + 16] = d * Float(qs[j] >> 4) + m
        }
    }

    /// Q5_0: f16 `d`, 32-bit little-endian `qh` (bit `i` is the fifth bit of value `i`), 16
    /// nibble bytes as in Q4_0; value = `(q - 16) * d`.
    @inline(__always)
    static func q5_0Block(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        let qs = (p + 6).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let lo = Int(qs[j] & 0x0F) | Int((qh >> UInt32(j)) & 1) << 4
            let hi = Int(qs[j] >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
            out[j] = d * Float(lo - 16)
            out[j + 16] = d * Float(hi - 16)
        }
    }

    /// Q5_1: f16 `d`, f16 `m`, `qh` and nibbles as in Q5_0; value = `d * q + m`.
    @inline(__always)
    static func q5_1Block(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let m = half(p, 2)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let qs = (p + 8).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let lo = UInt32(qs[j] & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
            let hi = UInt32(qs[j] >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
            out[j] = d * Float(lo) + m
            out[j + 16] = d * Float(hi) + m
        }
    }
}
