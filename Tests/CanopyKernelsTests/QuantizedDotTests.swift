import Testing

@testable import CanopyKernels

/// A scalar transcription of what llama.cpp's x86 CPU backend computes for Q8_0/Q4_0/Q5_0 ×
/// Q8_0 and Q4_1/Q5_1 × Q8_1, written independently of the kernels under test.
enum GGMLScalar {
    /// One Q8_0/Q8_1 activation block: f16 scale, int8 values, and Q8_1's f16 `s`.
    struct Q8Block {
        var d: Float16
        var s: Float16
        var q: [Int]
    }

    /// ggml's AVX2 `quantize_row_q8_0`/`q8_1`: d = amax/127, q = round-half-even(x·127/amax).
    static func quantizeQ8(_ x: ArraySlice<Float>) -> Q8Block {
        let amax = x.map { abs($0) }.max()!
        let d = amax / 127
        let id: Float = amax == 0 ? 0 : 127 / amax
        let q = x.map { Int(($0 * id).rounded(.toNearestOrEven)) }
        return Q8Block(d: Float16(d), s: Float16(d * Float(q.reduce(0, +))), q: q)
    }

    /// Σ over blocks of the per-block terms, in Double, plus Σ|terms| as an error scale.
    static func q8_0Dot(weights: [UInt8], row: Int, cols: Int, x: ArraySlice<Float>) -> (Double, Double) {
        var sum = 0.0, scale = 0.0
        let base = row * cols / 32 * 34
        for b in 0..<(cols / 32) {
            let blk = quantizeQ8(x[(x.startIndex + 32 * b)..<(x.startIndex + 32 * b + 32)])
            let p = base + 34 * b
            let dw = Float(Float16(bitPattern: UInt16(weights[p]) | UInt16(weights[p + 1]) << 8))
            var sumi = 0
            for j in 0..<32 { sumi += Int(Int8(bitPattern: weights[p + 2 + j])) * blk.q[j] }
            let term = Double(sumi) * Double(dw * Float(blk.d))
            sum += term
            scale += abs(term)
        }
        return (sum, scale)
    }

    /// Q4_0 × Q8_0: weight values are nibble − 8.
    static func q4_0Dot(weights: [UInt8], row: Int, cols: Int, x: ArraySlice<Float>) -> (Double, Double) {
        var sum = 0.0, scale = 0.0
        let base = row * cols / 32 * 18
        for b in 0..<(cols / 32) {
            let blk = quantizeQ8(x[(x.startIndex + 32 * b)..<(x.startIndex + 32 * b + 32)])
            let p = base + 18 * b
            let dw = Float(Float16(bitPattern: UInt16(weights[p]) | UInt16(weights[p + 1]) << 8))
            var sumi = 0
            for j in 0..<16 {
                sumi += (Int(weights[p + 2 + j] & 0x0F) - 8) * blk.q[j]
                sumi += (Int(weights[p + 2 + j] >> 4) - 8) * blk.q[j + 16]
            }
            let term = Double(sumi) * Double(dw * Float(blk.d))
            sum += term
            scale += abs(term)
        }
        return (sum, scale)
    }

    static func q4_1Dot(weights: [UInt8], row: Int, cols: Int, x: ArraySlice<Float>) -> (Double, Double) {
        var sum = 0.0, scale = 0.0
        let base = row * cols / 32 * 20
        for b in 0..<(cols / 32) {
            let blk = quantizeQ8(x[(x.startIndex + 32 * b)..<(x.startIndex + 32 * b + 32)])
            let p = base + 20 * b
            let dw = Float(Float16(bitPattern: UInt16(weights[p]) | UInt16(weights[p + 1]) << 8))
            let mw = Float(Float16(bitPattern: UInt16(weights[p + 2]) | UInt16(weights[p + 3]) << 8))
            var sumi = 0
            for j in 0..<16 {
                sumi += Int(weights[p + 4 + j] & 0x0F) * blk.q[j]
                sumi += Int(weights[p + 4 + j] >> 4) * blk.q[j + 16]
            }
            let t1 = Double(sumi) * Double(dw * Float(blk.d))
            let t2 = Double(mw * Float(blk.s))
            sum += t1 + t2
            scale += abs(t1) + abs(t2)
        }
        return (sum, scale)
    }

    /// Q5_0 × Q8_0 (value q − 16) and Q5_1 × Q8_1 (value q, plus m_w · s_x per block), where
    /// q = nibble | fifth bit << 4 and bit j of the little-endian u32 `qh` is value j's fifth bit.
    static func q5Dot(_ type: GGMLType, weights: [UInt8], row: Int, cols: Int, x: ArraySlice<Float>) -> (Double, Double) {
        let hasMin = type == .q5_1
        let size = hasMin ? 24 : 22, offset = hasMin ? 0 : 16
        var sum = 0.0, scale = 0.0
        let base = row * cols / 32 * size
        for b in 0..<(cols / 32) {
            let blk = quantizeQ8(x[(x.startIndex + 32 * b)..<(x.startIndex + 32 * b + 32)])
            let p = base + size * b
            let dw = Float(Float16(bitPattern: UInt16(weights[p]) | UInt16(weights[p + 1]) << 8))
            let mw = hasMin ? Float(Float16(bitPattern: UInt16(weights[p + 2]) | UInt16(weights[p + 3]) << 8)) : 0
            let h = p + (hasMin ? 4 : 2)
            let qh = (0..<4).reduce(0) { $0 | Int(weights[h + $1]) << (8 * $1) }
            var sumi = 0
            for j in 0..<16 {
                let lo = Int(weights[h + 4 + j] & 0x0F) | (((qh >> j) & 1) << 4)
                let hi = Int(weights[h + 4 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4)
                sumi += (lo - offset) * blk.q[j] + (hi - offset) * blk.q[j + 16]
            }
            let t1 = Double(sumi) * Double(dw * Float(blk.d))
            let t2 = hasMin ? Double(mw * Float(blk.s)) : 0
            sum += t1 + t2
            scale += abs(t1) + abs(t2)
        }
        return (sum, scale)
    }
}

@Suite("Quantized activations and integer dot products")
struct QuantizedDotTests {
    @Test("Q8_0 and Q8_1 activation blocks match ggml's AVX2 quantizer byte for byte")
    func q8Bytes() {
        let x = randomActivations(tokens: 1, cols: 576, seed: 3)
        for type in [GGMLType.q8_0, .q8_1] {
            var out = [UInt8](repeating: 0, count: type.byteCount(forElements: 576)!)
            x.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBytes {
                    ActivationQuantizer.quantizeRow(type, from: xp.baseAddress!, into: $0.baseAddress!, count: 576)
                }
            }
            for b in 0..<18 {
                let blk = GGMLScalar.quantizeQ8(x[(32 * b)..<(32 * b + 32)])
                let p = type.typeSize * b
                var want = [UInt8](repeating: 0, count: type.typeSize)
                want[0] = UInt8(blk.d.bitPattern & 0xFF)
                want[1] = UInt8(blk.d.bitPattern >> 8)
                let q0 = type == .q8_1 ? 4 : 2
                if type == .q8_1 {
                    want[2] = UInt8(blk.s.bitPattern & 0xFF)
                    want[3] = UInt8(blk.s.bitPattern >> 8)
                }
                for j in 0..<32 { want[q0 + j] = UInt8(bitPattern: Int8(blk.q[j])) }
                #expect(Array(out[p..<(p + type.typeSize)]) == want, "\(type) block \(b)")
            }
        }
    }

    @Test("activation quantization rounds halfway cases to even, as AVX rounding does")
    func tiesToEven() {
        // amax = 127 makes the multiplier exactly 1, so x·id are the halfway values themselves.
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127; x[1] = 0.5; x[2] = 1.5; x[3] = 2.5; x[4] = -0.5; x[5] = -3.5
        var out = [UInt8](repeating: 0, count: 34)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBytes { ActivationQuantizer.quantizeRow(.q8_0, from: xp.baseAddress!, into: $0.baseAddress!, count: 32) }
        }
        let q = out[2..<8].map { Int8(bitPattern: $0) }
        #expect(q == [127, 0, 2, 2, 0, -4])
        #expect(Float(Float16(bitPattern: UInt16(out[0]) | UInt16(out[1]) << 8)) == 1)
    }

    @Test("Q8_K blocks follow ggml's quantize_row_q8_K_ref")
    func q8K() {
        var x = randomActivations(tokens: 1, cols: 512, seed: 8)
        x[300] = -9  // the largest magnitude is negative in the second block
        var out = [UInt8](repeating: 0, count: 2 * 292)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBytes { ActivationQuantizer.quantizeRow(.q8_K, from: xp.baseAddress!, into: $0.baseAddress!, count: 512) }
        }
        for b in 0..<2 {
            let block = Array(x[(256 * b)..<(256 * b + 256)])
            var maxValue: Float = 0
            for v in block where abs(v) > abs(maxValue) { maxValue = v }
            let iscale = -127 / maxValue
            let q = block.map { min(127, Int((iscale * $0).rounded(.toNearestOrEven))) }
            let p = 292 * b
            let d = Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(out[p + $1]) << (8 * UInt32($1)) })
            #expect(d == 1 / iscale)
            #expect(out[(p + 4)..<(p + 260)].map { Int(Int8(bitPattern: $0)) } == q)
            for k in 0..<16 {
                let bsum = Int(Int16(bitPattern: UInt16(out[p + 260 + 2 * k]) | UInt16(out[p + 261 + 2 * k]) << 8))
                #expect(bsum == q[(16 * k)..<(16 * k + 16)].reduce(0, +))
            }
        }
    }

    @Test("Q8_0/Q4_0/Q5_0×Q8_0 and Q4_1/Q5_1×Q8_1 products equal ggml's integer formula",
          arguments: [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1])
    func exactIntegerFormula(type: GGMLType) throws {
        let cols = 576
        for (rows, tokens) in [(7, 1), (13, 3), (65, 17)] {
            let m = try TestMatrix.fromFixtures(type, rows: rows, cols: cols, seed: UInt64(rows))
            let x = randomActivations(tokens: tokens, cols: cols, seed: UInt64(tokens))
            let y = runMatMul(m, x, tokens: tokens, .quantizedActivations)
            for t in 0..<tokens {
                let xt = x[(t * cols)..<((t + 1) * cols)]
                for r in 0..<rows {
                    let (want, scale) = switch type {
                    case .q8_0: GGMLScalar.q8_0Dot(weights: m.bytes, row: r, cols: cols, x: xt)
                    case .q4_0: GGMLScalar.q4_0Dot(weights: m.bytes, row: r, cols: cols, x: xt)
                    case .q5_0, .q5_1: GGMLScalar.q5Dot(type, weights: m.bytes, row: r, cols: cols, x: xt)
                    default: GGMLScalar.q4_1Dot(weights: m.bytes, row: r, cols: cols, x: xt)
                    }
                    // Only the f32 accumulation order may differ: a single activation
                    // rounded differently would move the sum by ~1e-4 of `scale`.
                    #expect(abs(Double(y[t * rows + r]) - want) <= 2e-6 * scale,
                            "\(type) row \(r) token \(t): \(y[t * rows + r]) vs \(want)")
                }
            }
        }
    }
}

@Suite("VecDot")
struct VecDotTests {
    @Test("VecDot.dot on quantized activations matches the exact product within 8-bit error", arguments: matMulTypes)
    func dotMatchesReference(type: GGMLType) throws {
        let cols = testColumns(type)
        let m = try TestMatrix.fromFixtures(type, rows: 3, cols: cols, seed: 31)
        let x = randomActivations(tokens: 1, cols: cols, seed: 32)
        let ref = referenceProduct(weights: m.dequantized(), rows: 3, cols: cols, input: x, tokens: 1)
        let matmul = runMatMul(m, x, tokens: 1, .quantizedActivations)
        // Activations in the layout `VecDot` expects: blocks of the vecDotType, or floats
        // rounded to the weight type for F16/BF16 (F32 as is).
        var activations: [UInt8]
        switch type.vecDotType! {
        case .f32, .f16, .bf16:
            let rounded = x.map { type == .f16 ? HalfFloat.roundedToHalf($0) : type == .bf16 ? HalfFloat.roundedToBFloat16($0) : $0 }
            activations = rounded.withUnsafeBytes { Array($0) }
        case let dotType:
            activations = [UInt8](repeating: 0, count: dotType.byteCount(forElements: cols)!)
            x.withUnsafeBufferPointer { xp in
                activations.withUnsafeMutableBytes {
                    ActivationQuantizer.quantizeRow(dotType, from: xp.baseAddress!, into: $0.baseAddress!, count: cols)
                }
            }
        }
        let rowBytes = type.byteCount(forElements: cols)!
        for r in 0..<3 {
            let d = m.bytes.withUnsafeBytes { w in
                activations.withUnsafeBytes { a in
                    VecDot.dot(type, weights: w.baseAddress! + r * rowBytes, activations: a.baseAddress!, count: cols)
                }
            }
            #expect(abs(Double(d) - ref.values[r]) <= 0.02 * ref.magnitudes[r], "\(type) row \(r)")
            // MatMul uses the same integer formula (for 32-value blocks through the C
            // kernels), so only float summation order may separate them.
            #expect(abs(d - matmul[r]) <= 1e-5 * Float(ref.magnitudes[r]), "\(type) row \(r): \(d) vs \(matmul[r])")
        }
    }
}
