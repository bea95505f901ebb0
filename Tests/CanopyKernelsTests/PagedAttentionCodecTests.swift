import Foundation
import Testing

@testable import CanopyKernels

/// `KVRowCodec` round trips and the exponential used by the attention kernels.
@Suite("PagedAttentionCodec")
struct PagedAttentionCodecTests {
    static func roundTrip(_ values: [Float], _ layout: PagedKVLayout) -> (decoded: [Float], row: [UInt8]) {
        var row = [UInt8](repeating: 0xAB, count: layout.rowBytes)
        var decoded = [Float](repeating: .nan, count: layout.rowWidth)
        values.withUnsafeBufferPointer { v in
            row.withUnsafeMutableBytes { KVRowCodec.encode(v.baseAddress!, into: $0.baseAddress!, layout: layout) }
        }
        row.withUnsafeBytes { r in
            decoded.withUnsafeMutableBufferPointer { KVRowCodec.decode(r.baseAddress!, into: $0.baseAddress!, layout: layout) }
        }
        return (decoded, row)
    }

    static func specials() -> [Float] {
        [0, -0.0, 1, -1, 65504, 65520, -1e6, 6.1e-5, 5.96e-8, 2.9e-8, 1e-10, .infinity, -.infinity,
         Float.leastNormalMagnitude, 0.1, 1.0 / 3]
    }

    @Test("f32 rows round-trip exactly", arguments: [1, 5, 64])
    func f32(_ hd: Int) {
        var random = AttentionTestRandom(seed: UInt64(hd))
        let layout = PagedKVLayout(blockSize: 4, layers: 1, kvHeads: 3, headDimension: hd, precision: .f32)
        var values = random.floats(layout.rowWidth, amplitude: 100)
        for (i, s) in Self.specials().prefix(values.count).enumerated() { values[i] = s }
        let (decoded, _) = Self.roundTrip(values, layout)
        #expect(decoded.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test("f16 rows decode to HalfFloat's rounding of the input", arguments: [1, 7, 64, 100])
    func f16(_ hd: Int) {
        var random = AttentionTestRandom(seed: 100 + UInt64(hd))
        let layout = PagedKVLayout(blockSize: 4, layers: 1, kvHeads: 3, headDimension: hd, precision: .f16)
        var values = random.floats(layout.rowWidth, amplitude: 70_000)
        for (i, s) in Self.specials().prefix(values.count).enumerated() { values[i] = s }
        let (decoded, row) = Self.roundTrip(values, layout)
        #expect(decoded.map(\.bitPattern) == values.map { HalfFloat.roundedToHalf($0).bitPattern })
        #expect(row[(2 * layout.rowWidth)...].allSatisfy { $0 == 0 }, "padding not cleared")
    }

    @Test("the half-float row decoding equals HalfFloat.toFloat on all 65536 patterns")
    func allHalfPatterns() {
        let layout = PagedKVLayout(blockSize: 1, layers: 1, kvHeads: 1, headDimension: 65536, precision: .f16)
        let bits = (0...UInt16.max).map { $0 }
        var decoded = [Float](repeating: 0, count: 65536)
        bits.withUnsafeBytes { raw in
            decoded.withUnsafeMutableBufferPointer { KVRowCodec.decode(raw.baseAddress!, into: $0.baseAddress!, layout: layout) }
        }
        let mismatches = bits.indices.filter { decoded[$0].bitPattern != HalfFloat.toFloat(bits[$0]).bitPattern }
        #expect(mismatches.isEmpty, "first mismatch at pattern \(mismatches.first ?? 0)")
    }

    @Test("q8 rows: scale max|x|/127, values within scale/2, zeros exact", arguments: [1, 9, 64])
    func q8(_ hd: Int) {
        var random = AttentionTestRandom(seed: 200 + UInt64(hd))
        let kvHeads = 4
        let layout = PagedKVLayout(blockSize: 4, layers: 1, kvHeads: kvHeads, headDimension: hd, precision: .q8)
        var values = random.floats(layout.rowWidth, amplitude: 5)
        // Head 1 all zeros; head 2 tiny values; head 3 spans a wide range.
        for i in 0..<hd { values[hd + i] = 0 }
        for i in 0..<hd { values[2 * hd + i] *= 1e-30 }
        values[3 * hd] = 1000
        let (decoded, row) = Self.roundTrip(values, layout)
        for head in 0..<kvHeads {
            let slice = values[(head * hd)..<((head + 1) * hd)]
            let maxAbs = slice.map { abs($0) }.max()!
            let scale = row.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: head * 4, as: Float.self) }
            #expect(scale == maxAbs / 127, "head \(head) scale")
            for i in 0..<hd {
                let error = abs(decoded[head * hd + i] - values[head * hd + i])
                // scale/2 from rounding, plus the rounding of scale × q itself.
                #expect(error <= scale / 2 * 1.000_01, "head \(head) value \(i): error \(error), scale \(scale)")
            }
            if maxAbs == 0 { #expect(decoded[(head * hd)..<((head + 1) * hd)].allSatisfy { $0 == 0 }) }
            // The largest magnitude is represented as ±127 exactly.
            let quants = (0..<hd).map { Int8(bitPattern: row[kvHeads * 4 + head * hd + $0]) }
            if maxAbs > 0 { #expect(quants.map { abs(Int($0)) }.max() == 127) }
        }
        #expect(row[(kvHeads * 4 + layout.rowWidth)...].allSatisfy { $0 == 0 }, "padding not cleared")
    }

    @Test("q8 rounds to nearest, ties away from zero, and clamps to ±127")
    func q8Rounding() {
        let layout = PagedKVLayout(blockSize: 1, layers: 1, kvHeads: 1, headDimension: 4, precision: .q8)
        // scale = 127/127 = 1: quants are the rounded inputs.
        let (decoded, row) = Self.roundTrip([127, 2.5, -2.5, 0.49], layout)
        #expect(decoded == [127, 3, -3, 0])
        #expect(row.count == 8)
    }

    @Test("exp matches Foundation's within 2 ulp on the range attention uses, 0 below")
    func exponential() {
        var worstUlps: Float = 0
        var x: Float = -87.3
        while x <= 0 {
            let mine = VectorMath.exp(x)
            let exact = Float(Foundation.exp(Double(x)))
            worstUlps = Swift.max(worstUlps, abs(mine - exact) / exact.ulp)
            x += 0.000_731
        }
        #expect(worstUlps <= 2, "worst error \(worstUlps) ulp")
        #expect(VectorMath.exp(0) == 1)
        #expect(VectorMath.exp(-Float.infinity) == 0)
        #expect(VectorMath.exp(-100) == 0)
    }
}
