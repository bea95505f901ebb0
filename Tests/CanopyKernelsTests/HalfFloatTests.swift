import Testing

@testable import CanopyKernels

@Suite("Half-float conversions")
struct HalfFloatTests {
    @Test("f16 → f32 agrees with Float16 for all 65536 bit patterns")
    func allHalves() {
        for bits in 0...UInt16.max {
            let want = Float(Float16(bitPattern: bits))
            let got = HalfFloat.toFloat(bits)
            if want.isNaN {
                #expect(got.isNaN && got.bitPattern == want.bitPattern, "bits \(bits)")
            } else {
                #expect(got.bitPattern == want.bitPattern, "bits \(bits): \(got) vs \(want)")
            }
        }
    }

    @Test("f32 → f16 rounds to nearest, ties to even, and round-trips every half")
    func fromFloat() {
        for bits in 0...UInt16.max where !Float16(bitPattern: bits).isNaN {
            #expect(HalfFloat.fromFloat(HalfFloat.toFloat(bits)) == bits)
        }
        // 1 + 2^-11 lies exactly between 1 and the next half (1 + 2^-10): ties to even → 1.
        #expect(HalfFloat.fromFloat(1 + 0x1p-11) == 0x3C00)
        // 1 + 3·2^-11 lies between 1 + 2^-10 (odd) and 1 + 2^-9 (even) → the even one.
        #expect(HalfFloat.fromFloat(1 + 3 * 0x1p-11) == 0x3C02)
        #expect(HalfFloat.fromFloat(65520) == 0x7C00)  // rounds up to infinity
        #expect(HalfFloat.fromFloat(-0x1p-25) == 0x8000)  // ties to even (zero)
    }

    @Test("bf16 widening is exact and narrowing rounds ties to even")
    func bfloat16() {
        #expect(HalfFloat.bfloat16ToFloat(0x3F80) == 1)
        #expect(HalfFloat.bfloat16ToFloat(0xC040) == -3)
        // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties to even → 1.
        #expect(HalfFloat.floatToBFloat16(1 + 0x1p-8) == 0x3F80)
        #expect(HalfFloat.floatToBFloat16(1 + 0x1p-8 + 0x1p-20) == 0x3F81)
        #expect(HalfFloat.floatToBFloat16(1 + 3 * 0x1p-8) == 0x3F82)
        let nan = HalfFloat.floatToBFloat16(Float(bitPattern: 0x7F80_0001))
        #expect(HalfFloat.bfloat16ToFloat(nan).isNaN)
    }
}

@Suite("HalfFloat rows (CCanopyKernels)", .serialized)
struct HalfFloatRowTests {
    @Test("row conversions equal the scalar conversions at every instruction-set level")
    func rowsMatchScalar() {
        defer { InstructionSet.select(InstructionSet.ceiling) }
        let halves = (0...UInt16.max).map { $0 }
        var rng = SplitMix64(state: 12)
        // Finite floats across the whole f16 range and beyond (overflow to infinity, subnormals).
        let floats: [Float] = (0..<100_000).map { i in
            let magnitude = Float.random(in: -30...20, using: &rng)
            let x = Float(sign: i % 2 == 0 ? .plus : .minus, exponent: Int(magnitude), significand: Float.random(in: 1..<2, using: &rng))
            return i % 97 == 0 ? 65519.99 : x
        }
        for level in InstructionSet.allCases {
            guard InstructionSet.select(level) == level else { continue }
            var widened = [Float](repeating: 0, count: halves.count)
            halves.withUnsafeBytes { src in
                widened.withUnsafeMutableBufferPointer { HalfFloat.widenRow(src.baseAddress!, into: $0.baseAddress!, count: halves.count) }
            }
            #expect(widened.map(\.bitPattern) == halves.map { HalfFloat.toFloat($0).bitPattern }, "\(level) widen")
            var narrowed = [UInt16](repeating: 0, count: floats.count)
            floats.withUnsafeBufferPointer { src in
                narrowed.withUnsafeMutableBytes { HalfFloat.narrowRow(src.baseAddress!, into: $0.baseAddress!, count: floats.count) }
            }
            #expect(narrowed == floats.map { HalfFloat.fromFloat($0) }, "\(level) narrow")
            var rounded = floats
            rounded.withUnsafeMutableBufferPointer { HalfFloat.roundRowToHalf($0.baseAddress!, count: $0.count) }
            #expect(rounded.map(\.bitPattern) == floats.map { HalfFloat.roundedToHalf($0).bitPattern }, "\(level) round")
        }
    }
}
