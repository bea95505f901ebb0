import CCanopyKernels

/// Conversions between `Float` and the 16-bit float formats GGML stores: IEEE binary16
/// ("f16", `ggml_half`) and bfloat16 ("bf16").
///
/// All conversions are exact where the target can represent the value, and round to
/// nearest, ties to even, where it cannot — the same results as x86's F16C instructions
/// and ggml's reference code.
public enum HalfFloat {
    /// 2^112: rebiases a binary16 exponent (bias 15) placed in a binary32 word (bias 127).
    @usableFromInline static let rebias = Float(bitPattern: 0x7780_0000)

    /// The `Float` equal to the binary16 value with bit pattern `bits` (exact, including
    /// subnormals and infinities; NaN payloads are kept and made quiet).
    ///
    /// Swift's `Float16` conversion calls a compiler-rt routine on baseline x86-64, which is
    /// too slow for per-block scales in inner loops; shifting the 15 magnitude bits into a
    /// binary32 word and multiplying by 2^112 is exact for every finite value (the product is
    /// a power-of-two rescaling that stays in range), so only Inf/NaN need a special case.
    @inlinable @inline(__always)
    public static func toFloat(_ bits: UInt16) -> Float {
        let magnitude = UInt32(bits & 0x7FFF) << 13
        let sign = UInt32(bits & 0x8000) << 16
        if bits & 0x7C00 == 0x7C00 {
            // Inf keeps a zero mantissa; NaNs keep their payload and come out quiet, as
            // F16C's conversion makes them.
            let payload = magnitude & 0x007F_E000
            return Float(bitPattern: sign | 0x7F80_0000 | payload | (payload == 0 ? 0 : 0x0040_0000))
        }
        let value = Float(bitPattern: magnitude) * rebias
        return Float(bitPattern: value.bitPattern | sign)
    }

    /// The bit pattern of the binary16 value nearest to `x` (ties to even; overflow gives
    /// infinity, NaN stays NaN).
    @inlinable @inline(__always)
    public static func fromFloat(_ x: Float) -> UInt16 {
        Float16(x).bitPattern
    }

    /// The `Float` equal to the bfloat16 value with bit pattern `bits` (always exact: bf16 is
    /// the top half of a binary32 word).
    @inlinable @inline(__always)
    public static func bfloat16ToFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// The bit pattern of the bfloat16 value nearest to `x`, ties to even, with NaNs made
    /// quiet — the same rounding as ggml's `ggml_compute_fp32_to_bf16`.
    @inlinable @inline(__always)
    public static func floatToBFloat16(_ x: Float) -> UInt16 {
        let u = x.bitPattern
        if u & 0x7FFF_FFFF > 0x7F80_0000 {
            return UInt16(truncatingIfNeeded: (u >> 16) | 64)
        }
        return UInt16(truncatingIfNeeded: (u &+ (0x7FFF &+ ((u >> 16) & 1))) >> 16)
    }

    /// `x` rounded to the nearest binary16 value and widened back to `Float`.
    @inlinable @inline(__always)
    public static func roundedToHalf(_ x: Float) -> Float {
        toFloat(fromFloat(x))
    }

    /// `x` rounded to the nearest bfloat16 value and widened back to `Float`.
    @inlinable @inline(__always)
    public static func roundedToBFloat16(_ x: Float) -> Float {
        bfloat16ToFloat(floatToBFloat16(x))
    }

    /// Widens `count` little-endian f16 values at `source` into `destination`, exactly (F16C
    /// where the CPU has it; the same bits either way).
    public static func widenRow(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        canopy_f16_to_f32(source, destination, Int64(count))
    }

    /// Writes the f16 values nearest to `source[0..<count]` (ties to even) to `destination`.
    public static func narrowRow(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer, count: Int) {
        canopy_f32_to_f16(source, destination, Int64(count))
    }

    /// Rounds `values[0..<count]` to f16 precision in place (`roundedToHalf` on each).
    public static func roundRowToHalf(_ values: UnsafeMutablePointer<Float>, count: Int) {
        canopy_round_to_f16(values, Int64(count))
    }
}
