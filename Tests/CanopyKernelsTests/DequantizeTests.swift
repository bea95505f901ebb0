import Foundation
import Testing

@testable import CanopyKernels

@Suite("Dequantization against gguf-py")
struct DequantizeTests {
    @Test("every row of every fixture type matches bit for bit", arguments: QuantFixtures.types)
    func matchesReference(type: GGMLType) throws {
        let raw = try QuantFixtures.raw(type)
        let expected = try QuantFixtures.expected(type)
        let rowBytes = type.byteCount(forElements: QuantFixtures.cols)!
        var out = [Float](repeating: .nan, count: QuantFixtures.cols)
        for r in 0..<QuantFixtures.rows {
            raw.withUnsafeBytes { src in
                out.withUnsafeMutableBufferPointer { dst in
                    Dequantize.row(
                        type, from: src.baseAddress! + r * rowBytes, into: dst.baseAddress!,
                        count: QuantFixtures.cols)
                }
            }
            var mismatches = 0
            var first = ""
            for c in 0..<QuantFixtures.cols {
                let want = expected[r * QuantFixtures.cols + c]
                if out[c].bitPattern != want.bitPattern {
                    if mismatches == 0 { first = "col \(c): got \(out[c]), want \(want)" }
                    mismatches += 1
                }
            }
            #expect(mismatches == 0, "\(type) row \(r): \(mismatches) mismatches, first \(first)")
        }
    }

    @Test("F32 rows are copied unchanged")
    func f32Copy() {
        let values: [Float] = [1, -2.5, .infinity, 0x1p-140, -0.0, 3e38]
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBytes { src in
            Dequantize.row(.f32, from: src.baseAddress!, into: &out, count: values.count)
        }
        #expect(out.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test("only the types with known layouts are dequantizable")
    func dequantizable() {
        for t in GGMLType.allCases {
            let expected = ![.q8_1, .q8_K, .i8, .i16, .i32, .i64, .f64].contains(t)
            #expect(t.isDequantizable == expected, "\(t)")
        }
    }
}
