import Testing

@testable import CanopyKernels

/// Every type `MatMul` supports, with a column count that is a few blocks long.
let matMulTypes: [GGMLType] = [
    .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
]

func testColumns(_ type: GGMLType) -> Int { type.blockSize == 256 ? 512 : 160 }

/// (rows, tokens): rows not a multiple of the thread count or the 4-row tile, tokens 1, 3, 17.
let oddShapes: [(Int, Int)] = [(7, 1), (13, 3), (33, 17), (1, 2)]

@Suite("MatMul")
struct MatMulTests {
    @Test(".float32 matches a double-precision product of the dequantized weights", arguments: matMulTypes)
    func float32(type: GGMLType) throws {
        let cols = testColumns(type)
        for (shapeIndex, (rows, tokens)) in oddShapes.enumerated() {
            let m = try TestMatrix.fromFixtures(type, rows: rows, cols: cols, seed: UInt64(shapeIndex + 1))
            let x = randomActivations(tokens: tokens, cols: cols, seed: 99 + UInt64(shapeIndex))
            let y = runMatMul(m, x, tokens: tokens, .float32)
            let ref = referenceProduct(weights: m.dequantized(), rows: rows, cols: cols, input: x, tokens: tokens)
            var worst = 0.0
            for i in 0..<y.count {
                worst = max(worst, abs(Double(y[i]) - ref.values[i]) / max(ref.magnitudes[i], 1e-30))
            }
            #expect(worst < 1e-5, "\(type) \(rows)×\(cols), \(tokens) tokens: relative error \(worst)")
        }
    }

    @Test(".quantizedActivations stays within 2% of the exact product", arguments: matMulTypes)
    func quantizedClose(type: GGMLType) throws {
        let cols = testColumns(type)
        for (shapeIndex, (rows, tokens)) in oddShapes.enumerated() {
            let m = try TestMatrix.fromFixtures(type, rows: rows, cols: cols, seed: UInt64(shapeIndex + 11))
            let x = randomActivations(tokens: tokens, cols: cols, seed: 7 + UInt64(shapeIndex))
            let y = runMatMul(m, x, tokens: tokens, .quantizedActivations)
            let ref = referenceProduct(weights: m.dequantized(), rows: rows, cols: cols, input: x, tokens: tokens)
            // Errors are measured against Σ|w·x|, the natural scale of a dot product: the
            // signed sum itself can cancel to near zero, where any relative error blows up.
            var errorSquares = 0.0, scaleSquares = 0.0, worst = 0.0
            for i in 0..<y.count {
                let e = Double(y[i]) - ref.values[i]
                errorSquares += e * e
                scaleSquares += ref.magnitudes[i] * ref.magnitudes[i]
                worst = max(worst, abs(e) / max(ref.magnitudes[i], 1e-30))
            }
            let relative = (errorSquares / scaleSquares).squareRoot()
            #expect(relative < 0.005, "\(type) \(rows)×\(cols), \(tokens) tokens: RMS relative error \(relative)")
            #expect(worst < 0.02, "\(type): worst error relative to Σ|w·x| \(worst)")
            // A kernel that ignored the activation quantization entirely would be within f32
            // rounding of the reference; 8-bit activations cannot be.
            if type.blockSize > 1 { #expect(relative > 1e-6, "\(type): suspiciously exact") }
        }
    }

    @Test("F16/BF16 weights with .quantizedActivations round activations to the weight type")
    func halfActivations() throws {
        for type in [GGMLType.f16, .bf16] {
            let (rows, cols, tokens) = (9, 160, 3)
            let m = try TestMatrix.fromFixtures(type, rows: rows, cols: cols, seed: 5)
            let x = randomActivations(tokens: tokens, cols: cols, seed: 6)
            let rounded = x.map { type == .f16 ? Float(Float16($0)) : HalfFloat.roundedToBFloat16($0) }
            let y = runMatMul(m, x, tokens: tokens, .quantizedActivations)
            let ref = referenceProduct(weights: m.dequantized(), rows: rows, cols: cols, input: rounded, tokens: tokens)
            for i in 0..<y.count {
                #expect(abs(Double(y[i]) - ref.values[i]) <= 1e-5 * ref.magnitudes[i], "\(type) output \(i)")
            }
        }
    }

    @Test("large products split across threads agree with single dot products")
    func threadedSplit() throws {
        // 1001 rows × 64 tokens is far above the parallel threshold; each output must equal
        // the kernel applied to its own row and token.
        let (rows, cols, tokens) = (1001, 160, 5)
        for type in [GGMLType.q4_1, .q8_0, .f32, .q4_0] {
            let m = try TestMatrix.fromFixtures(type, rows: rows, cols: cols, seed: 21)
            let x = randomActivations(tokens: tokens, cols: cols, seed: 22)
            let y = runMatMul(m, x, tokens: tokens, .float32)
            let w = m.dequantized()
            for t in [0, tokens - 1] {
                for r in [0, 1, 2, 3, 500, 997, 998, 999, 1000] {
                    var s = 0.0
                    for c in 0..<cols { s += Double(w[r * cols + c]) * Double(x[t * cols + c]) }
                    #expect(abs(Double(y[t * rows + r]) - s) < 1e-4, "\(type) row \(r) token \(t)")
                }
            }
        }
    }

    @Test("zero tokens writes nothing; zero columns writes zeros")
    func degenerate() {
        let bytes = [UInt8](repeating: 0, count: 64)
        var y: [Float] = [42, 42, 42]
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: .q8_0, rows: 3, cols: 0, data: raw.baseAddress!)
            let x: [Float] = [1]
            MatMul.multiply(w, input: x, tokens: 0, output: &y, precision: .float32)
            #expect(y == [42, 42, 42])
            MatMul.multiply(w, input: x, tokens: 1, output: &y, precision: .quantizedActivations)
            #expect(y == [0, 0, 0])
        }
    }
}
