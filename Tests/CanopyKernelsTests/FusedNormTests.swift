import Testing

@testable import CanopyKernels

/// RMSNorm fused into activation quantization (`MatMul.multiplyNormalized`) must compute the
/// same bits as normalising with `RMSNorm.apply` and then multiplying, at every instruction
/// set and batch size, and must decline what it cannot fuse.
@Suite("Fused RMSNorm + quantization")
struct FusedNormTests {
    /// Normalises `x` row by row into a new array: the unfused reference path.
    private func normalized(_ x: [Float], weight: [Float], tokens: Int, cols: Int, epsilon: Float) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    for t in 0..<tokens {
                        RMSNorm.apply(xp.baseAddress! + t * cols, weight: wp.baseAddress!, count: cols,
                                      epsilon: epsilon, output: op.baseAddress! + t * cols)
                    }
                }
            }
        }
        return out
    }

    /// The fused grouped product, or nil when it declined.
    private func fused(
        _ mats: [TestMatrix], _ x: [Float], weight: [Float], tokens: Int, epsilon: Float,
        precision: MatMulPrecision = .quantizedActivations
    ) -> [[Float]]? {
        let pointers = mats.map { UnsafeMutablePointer<Float>.allocate(capacity: $0.rows * tokens) }
        defer { pointers.forEach { $0.deallocate() } }
        func bind(_ i: Int, _ bound: [WeightMatrix]) -> Bool {
            guard i < mats.count else {
                return x.withUnsafeBufferPointer { xp in
                    weight.withUnsafeBufferPointer { wp in
                        MatMul.multiplyNormalized(bound, input: xp.baseAddress!, normWeight: wp.baseAddress!, epsilon: epsilon,
                                                  tokens: tokens, outputs: pointers, precision: precision)
                    }
                }
            }
            return mats[i].withMatrix { bind(i + 1, bound + [$0]) }
        }
        guard bind(0, []) else { return nil }
        return mats.indices.map { Array(UnsafeBufferPointer(start: pointers[$0], count: mats[$0].rows * tokens)) }
    }

    @Test("fused equals normalise-then-multiply, bit for bit", arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0])
    func matchesUnfused(type: GGMLType) throws {
        defer { InstructionSet.select(InstructionSet.ceiling) }
        let epsilon: Float = 1e-5
        for (cols, tokens) in [(576, 1), (576, 9), (608, 70)] {
            let mats = try [(40, UInt64(1)), (13, 2)].map {
                try TestMatrix.fromFixtures(type, rows: $0.0, cols: cols, seed: $0.1 + UInt64(cols))
            }
            // Residual-stream-like rows: large values, so the norm's scale matters.
            let x = randomActivations(tokens: tokens, cols: cols, seed: UInt64(tokens)).map { $0 * 37 }
            let weight = randomActivations(tokens: 1, cols: cols, seed: 99).map { 1 + $0 / 4 }
            let reference = mats.map { runMatMul($0, normalized(x, weight: weight, tokens: tokens, cols: cols, epsilon: epsilon),
                                                 tokens: tokens, .quantizedActivations) }
            for level in InstructionSet.allCases where InstructionSet.select(level) == level {
                let result = try #require(fused(mats, x, weight: weight, tokens: tokens, epsilon: epsilon))
                for i in mats.indices {
                    #expect(result[i].map(\.bitPattern) == reference[i].map(\.bitPattern),
                            "\(type) \(cols) cols \(tokens) tokens matrix \(i) at \(level)")
                }
            }
        }
    }

    @Test("declines what the C pass cannot fuse")
    func declines() throws {
        let cols = 512
        let x = randomActivations(tokens: 2, cols: cols, seed: 3)
        let weight = [Float](repeating: 1, count: cols)
        let q4 = try TestMatrix.fromFixtures(.q4_1, rows: 8, cols: cols, seed: 4)
        let k4 = try TestMatrix.fromFixtures(.q4_K, rows: 8, cols: cols, seed: 5)
        #expect(fused([k4], x, weight: weight, tokens: 2, epsilon: 1e-5) == nil, "K-quants quantize to Q8_K, not fused")
        #expect(fused([q4], x, weight: weight, tokens: 2, epsilon: 1e-5, precision: .float32) == nil,
                "float activations have nothing to fuse into")
        #expect(fused([q4], x, weight: weight, tokens: 2, epsilon: 1e-5) != nil)
    }
}
