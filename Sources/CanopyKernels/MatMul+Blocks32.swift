/// `.quantizedActivations` products for the 32-value block types (Q4_0, Q4_1, Q5_0, Q5_1,
/// Q8_0), the hot path of the default model.
///
/// Both sides are first brought into one shape — contiguous int8 values plus per-block
/// `Float` scales (and Q4_1/Q5_1 mins, Q8_1 sums) — so one integer kernel serves every type:
/// activations once per call, each weight row once per row (then reused by every token).
/// The arithmetic per block is ggml's: `Float(Σ q_w q_x) · (d_w · d_x)`, plus `m_w · s_x`
/// where the weight type has a min; Q4_0/Q5_0 values are unpacked as `q − 8` / `q − 16`.
extension MatMul {
    static func block32Product(
        _ w: WeightMatrix, _ x: UnsafePointer<Float>, _ tokens: Int,
        _ y: UnsafeMutablePointer<Float>
    ) {
        let rows = w.rows, cols = w.cols, blocks = cols / 32
        let type = w.type
        let hasMin = type == .q4_1 || type == .q5_1
        let xq = UnsafeMutablePointer<Int8>.allocate(capacity: tokens * cols)
        let xd = UnsafeMutablePointer<Float>.allocate(capacity: tokens * blocks)
        let xs = UnsafeMutablePointer<Float>.allocate(capacity: tokens * blocks)
        defer {
            xq.deallocate()
            xd.deallocate()
            xs.deallocate()
        }
        for i in 0..<(tokens * blocks) {
            let (d, s) = ActivationQuantizer.q8Values(x + 32 * i, xq + 32 * i)
            xd[i] = HalfFloat.toFloat(d)
            xs[i] = HalfFloat.toFloat(s)
        }
        forEachRowChunk(rows: rows, costPerRow: cols * tokens, granule: 4) { range in
            let wq = UnsafeMutablePointer<Int8>.allocate(capacity: cols)
            let wd = UnsafeMutablePointer<Float>.allocate(capacity: 2 * blocks)
            defer {
                wq.deallocate()
                wd.deallocate()
            }
            let wm = wd + blocks
            for r in range {
                unpackRow(type, w.row(r), blocks, wq, wd, wm)
                var t = 0
                // Four tokens at a time share each load of the unpacked weight block.
                while t + 4 <= tokens {
                    let x0 = xq + t * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols
                    let d0 = xd + t * blocks, d1 = d0 + blocks, d2 = d1 + blocks, d3 = d2 + blocks
                    var sum = SIMD4<Float>()
                    for b in 0..<blocks {
                        let wb = wq + 32 * b, o = 32 * b
                        let sumi = SIMD4<Int32>(
                            VecDot.int8Dot32(wb, x0 + o), VecDot.int8Dot32(wb, x1 + o),
                            VecDot.int8Dot32(wb, x2 + o), VecDot.int8Dot32(wb, x3 + o))
                        sum += SIMD4<Float>(sumi) * (wd[b] * SIMD4(d0[b], d1[b], d2[b], d3[b]))
                    }
                    if hasMin {
                        let s0 = xs + t * blocks, s1 = s0 + blocks, s2 = s1 + blocks, s3 = s2 + blocks
                        var mins = SIMD4<Float>()
                        for b in 0..<blocks { mins += wm[b] * SIMD4(s0[b], s1[b], s2[b], s3[b]) }
                        sum += mins
                    }
                    for i in 0..<4 { y[(t + i) * rows + r] = sum[i] }
                    t += 4
                }
                while t < tokens {
                    defer { t += 1 }
                    let xqt = xq + t * cols, xdt = xd + t * blocks
                    var sum: Float = 0
                    for b in 0..<blocks {
                        let sumi = VecDot.int8Dot32(wq + 32 * b, xqt + 32 * b)
                        sum += Float(sumi) * (wd[b] * xdt[b])
                    }
                    if hasMin {
                        let xst = xs + t * blocks
                        var mins: Float = 0
                        for b in 0..<blocks { mins += wm[b] * xst[b] }
                        sum += mins
                    }
                    y[t * rows + r] = sum
                }
            }
        }
    }

    /// Unpacks one weight row into int8 values `q`, scales `d` and mins `m` (Q4_1/Q5_1).
    @inline(__always)
    static func unpackRow(
        _ type: GGMLType, _ row: UnsafeRawPointer, _ blocks: Int,
        _ q: UnsafeMutablePointer<Int8>, _ d: UnsafeMutablePointer<Float>,
        _ m: UnsafeMutablePointer<Float>
    ) {
        switch type {
        case .q8_0:
            for b in 0..<blocks {
                let p = row + 34 * b
                d[b] = Dequantize.half(p, 0)
                (q + 32 * b).update(from: (p + 2).assumingMemoryBound(to: Int8.self), count: 32)
            }
        case .q4_1:
            for b in 0..<blocks {
                let p = row + 20 * b
                d[b] = Dequantize.half(p, 0)
                m[b] = Dequantize.half(p, 2)
                unpackNibbles(p + 4, q + 32 * b, offset: 0)
            }
        case .q4_0:
            for b in 0..<blocks {
                let p = row + 18 * b
                d[b] = Dequantize.half(p, 0)
                unpackNibbles(p + 2, q + 32 * b, offset: 8)
            }
        case .q5_0:
            for b in 0..<blocks {
                let p = row + 22 * b
                d[b] = Dequantize.half(p, 0)
                unpackFiveBit(p + 2, q + 32 * b, offset: 16)
            }
        case .q5_1:
            for b in 0..<blocks {
                let p = row + 24 * b
                d[b] = Dequantize.half(p, 0)
                m[b] = Dequantize.half(p, 2)
                unpackFiveBit(p + 4, q + 32 * b, offset: 0)
            }
        default:
            preconditionFailure("MatMul: \(type) is not a 32-value block type")
        }
    }

    @inline(__always)
    static func unpackNibbles(_ p: UnsafeRawPointer, _ q: UnsafeMutablePointer<Int8>, offset: Int8) {
        let bytes = p.assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            q[j] = Int8(bitPattern: bytes[j] & 0x0F) &- offset
            q[j + 16] = Int8(bitPattern: bytes[j] >> 4) &- offset
        }
    }

    @inline(__always)
    static func unpackFiveBit(_ p: UnsafeRawPointer, _ q: UnsafeMutablePointer<Int8>, offset: Int8) {
        let qh = UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))
        let bytes = (p + 4).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let lo = (bytes[j] & 0x0F) | UInt8(truncatingIfNeeded: (qh >> UInt32(j)) & 1) << 4
            let hi = (bytes[j] >> 4) | UInt8(truncatingIfNeeded: (qh >> UInt32(j + 16)) & 1) << 4
            q[j] = Int8(bitPattern: lo) &- offset
            q[j + 16] = Int8(bitPattern: hi) &- offset
        }
    }
}
