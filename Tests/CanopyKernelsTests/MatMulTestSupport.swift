import Foundation

@testable import CanopyKernels

/// Deterministic pseudo-random numbers (SplitMix64), so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A weight matrix whose bytes the test owns.
struct TestMatrix {
    let type: GGMLType
    let rows: Int
    let cols: Int
    var bytes: [UInt8]

    /// Runs `body` with a `WeightMatrix` over `bytes`.
    func withMatrix<R>(_ body: (WeightMatrix) -> R) -> R {
        bytes.withUnsafeBytes { body(WeightMatrix(type: type, rows: rows, cols: cols, data: $0.baseAddress!)) }
    }

    /// The dequantized weights (checked bit-exact against gguf-py by `DequantizeTests`).
    func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        let rowBytes = type.byteCount(forElements: cols)!
        bytes.withUnsafeBytes { src in
            for r in 0..<rows {
                out.withUnsafeMutableBufferPointer { dst in
                    Dequantize.row(type, from: src.baseAddress! + r * rowBytes, into: dst.baseAddress! + r * cols, count: cols)
                }
            }
        }
        return out
    }

    /// A matrix whose blocks are valid blocks drawn from the gguf-py fixtures (F32: random
    /// normal-ish floats). Blocks are self-contained, so any arrangement of them is a valid
    /// matrix; drawing them pseudo-randomly makes every row different.
    static func fromFixtures(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) throws -> TestMatrix {
        var rng = SplitMix64(state: seed)
        let rowBytes = type.byteCount(forElements: cols)!
        if type == .f32 {
            var bytes = [UInt8](repeating: 0, count: rows * rowBytes)
            bytes.withUnsafeMutableBytes { raw in
                for i in 0..<(rows * cols) {
                    raw.storeBytes(of: Float.random(in: -1...1, using: &rng), toByteOffset: 4 * i, as: Float.self)
                }
            }
            return TestMatrix(type: type, rows: rows, cols: cols, bytes: bytes)
        }
        let source = try QuantFixtures.raw(type)
        // F16/BF16 "blocks" are single values; draw them in runs of 32 to keep it quick.
        let unit = type.blockSize == 1 ? 32 * type.typeSize : type.typeSize
        let units = source.count / unit
        var bytes = [UInt8]()
        bytes.reserveCapacity(rows * rowBytes)
        for _ in 0..<(rows * rowBytes / unit) {
            let u = Int(rng.next() % UInt64(units))
            bytes.append(contentsOf: source[(u * unit)..<((u + 1) * unit)])
        }
        return TestMatrix(type: type, rows: rows, cols: cols, bytes: bytes)
    }
}

/// `tokens × count` activations, roughly N(0, 1) with some larger outliers, as in a model.
func randomActivations(tokens: Int, cols: Int, seed: UInt64) -> [Float] {
    var rng = SplitMix64(state: seed)
    return (0..<(tokens * cols)).map { i in
        let u = Float.random(in: -1...1, using: &rng) + Float.random(in: -1...1, using: &rng)
        return i % 37 == 5 ? 6 * u : u
    }
}

/// Double-precision `y[t*rows + r] = Σ w[r, c] x[t*cols + c]`, and `Σ |w x|` per output
/// (the scale against which f32 rounding error is measured).
func referenceProduct(
    weights w: [Float], rows: Int, cols: Int, input x: [Float], tokens: Int
) -> (values: [Double], magnitudes: [Double]) {
    var values = [Double](repeating: 0, count: rows * tokens)
    var magnitudes = values
    for t in 0..<tokens {
        for r in 0..<rows {
            var s = 0.0, m = 0.0
            for c in 0..<cols {
                let p = Double(w[r * cols + c]) * Double(x[t * cols + c])
                s += p
                m += abs(p)
            }
            values[t * rows + r] = s
            magnitudes[t * rows + r] = m
        }
    }
    return (values, magnitudes)
}

/// Runs `MatMul.multiply` on a test matrix.
func runMatMul(_ m: TestMatrix, _ x: [Float], tokens: Int, _ precision: MatMulPrecision) -> [Float] {
    var y = [Float](repeating: .nan, count: m.rows * tokens)
    m.withMatrix { w in
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                MatMul.multiply(w, input: xp.baseAddress!, tokens: tokens, output: yp.baseAddress!, precision: precision)
            }
        }
    }
    return y
}
