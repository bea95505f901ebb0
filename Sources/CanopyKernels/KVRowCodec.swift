/// Encoding of one token's K or V row (all KV heads) in a `PagedKVLayout`'s precision.
///
/// The attention kernels decode head slices with the same arithmetic as `decode`, so a
/// reference computed on decoded rows sees exactly the values the kernels use.
public enum KVRowCodec {
    /// Encodes `values` (`layout.rowWidth` floats) into the row at `destination`
    /// (`layout.rowBytes` bytes, padding included, so encoded blocks are deterministic).
    ///
    /// - `f32`: the values, bit for bit.
    /// - `f16`: each value rounded to the nearest half float (ties to even).
    /// - `q8`: per head, `scale = max|x| / 127` (0 when the head is all zeros) and
    ///   `q = (x / scale).rounded()` (to nearest, ties away from zero) clamped to ±127, so
    ///   every decoded value is within `scale / 2` of its input. NaN inputs encode as 0.
    public static func encode(
        _ values: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer, layout: PagedKVLayout
    ) {
        let width = layout.rowWidth
        switch layout.precision {
        case .f32:
            destination.copyMemory(from: values, byteCount: width * 4)
        case .f16:
            for i in 0..<width {
                destination.storeBytes(of: HalfFloat.fromFloat(values[i]), toByteOffset: 2 * i, as: UInt16.self)
            }
            for pad in (2 * width)..<layout.rowBytes {
                destination.storeBytes(of: 0, toByteOffset: pad, as: UInt8.self)
            }
        case .q8:
            let hd = layout.headDimension
            let quantsOffset = layout.kvHeads * 4
            for head in 0..<layout.kvHeads {
                let x = values + head * hd
                var maxAbs: Float = 0
                for i in 0..<hd { maxAbs = Swift.max(maxAbs, abs(x[i])) }
                let scale = maxAbs / 127
                destination.storeBytes(of: scale, toByteOffset: head * 4, as: Float.self)
                for i in 0..<hd {
                    var q: Int8 = 0
                    if scale > 0 {
                        let r = (x[i] / scale).rounded()
                        // NaN fails both comparisons and stays 0; ±inf clamp.
                        if r >= 127 { q = 127 } else if r <= -127 { q = -127 } else if r == r { q = Int8(r) }
                    }
                    destination.storeBytes(of: q, toByteOffset: quantsOffset + head * hd + i, as: Int8.self)
                }
            }
            for pad in (quantsOffset + width)..<layout.rowBytes {
                destination.storeBytes(of: 0, toByteOffset: pad, as: UInt8.self)
            }
        }
    }

    /// Decodes the row at `source` into `layout.rowWidth` floats (tests, debugging); the
    /// values are exactly those the attention kernels compute with.
    public static func decode(
        _ source: UnsafeRawPointer, into values: UnsafeMutablePointer<Float>, layout: PagedKVLayout
    ) {
        for head in 0..<layout.kvHeads {
            decodeHead(source, head: head, into: values + head * layout.headDimension, layout: layout)
        }
    }

    /// Decodes head `head` of the row at `source` into `layout.headDimension` floats.
    @inline(__always)
    static func decodeHead(
        _ source: UnsafeRawPointer, head: Int, into values: UnsafeMutablePointer<Float>, layout: PagedKVLayout
    ) {
        let hd = layout.headDimension
        switch layout.precision {
        case .f32:
            values.update(from: (source + head * hd * 4).assumingMemoryBound(to: Float.self), count: hd)
        case .f16:
            let h = source + head * hd * 2
            // Finite values are widened eight at a time, two halves per 32-bit lane (the
            // same rebiasing multiply as `HalfFloat.toFloat`); Inf/NaN patterns (exponent
            // all ones) are rare and redone exactly afterwards. Adding 0x0400 to a half's
            // exponent bits carries into its bit 15 only when they are all ones.
            var special = SIMD4<UInt32>()
            var i = 0
            while i + 8 <= hd {
                let w = h.loadUnaligned(fromByteOffset: 2 * i, as: SIMD4<UInt32>.self)
                special |= ((w & 0x7C00_7C00) &+ 0x0400_0400) & 0x8000_8000
                let even = unsafeBitCast((w & 0x7FFF) &<< 13, to: SIMD4<Float>.self) * HalfFloat.rebias
                let odd = unsafeBitCast((w & 0x7FFF_0000) &>> 3, to: SIMD4<Float>.self) * HalfFloat.rebias
                let evenBits = unsafeBitCast(even, to: SIMD4<UInt32>.self) | ((w & 0x8000) &<< 16)
                let oddBits = unsafeBitCast(odd, to: SIMD4<UInt32>.self) | (w & 0x8000_0000)
                let out = UnsafeMutableRawPointer(values + i)
                out.storeBytes(of: SIMD4(evenBits[0], oddBits[0], evenBits[1], oddBits[1]), as: SIMD4<UInt32>.self)
                out.storeBytes(of: SIMD4(evenBits[2], oddBits[2], evenBits[3], oddBits[3]), toByteOffset: 16,
                               as: SIMD4<UInt32>.self)
                i += 8
            }
            while i < hd {
                values[i] = HalfFloat.toFloat(h.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                i += 1
            }
            if special[0] | special[1] | special[2] | special[3] != 0 {
                for j in 0..<hd {
                    let bits = h.loadUnaligned(fromByteOffset: 2 * j, as: UInt16.self)
                    if bits & 0x7C00 == 0x7C00 { values[j] = HalfFloat.toFloat(bits) }
                }
            }
        case .q8:
            let scale = source.loadUnaligned(fromByteOffset: head * 4, as: Float.self)
            let q = source + layout.kvHeads * 4 + head * hd
            var i = 0
            while i + 8 <= hd {
                let bytes = q.loadUnaligned(fromByteOffset: i, as: SIMD8<Int8>.self)
                let wide = SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: bytes))
                UnsafeMutableRawPointer(values + i).storeBytes(of: wide * scale, as: SIMD8<Float>.self)
                i += 8
            }
            while i < hd {
                values[i] = scale * Float(q.load(fromByteOffset: i, as: Int8.self))
                i += 1
            }
        }
    }
}
