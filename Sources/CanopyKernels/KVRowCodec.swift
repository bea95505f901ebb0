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
            HalfFloat.narrowRow(values, into: destination, count: width)
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
            HalfFloat.widenRow(source + head * hd * 2, into: values, count: hd)
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
