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
