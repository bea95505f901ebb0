import Foundation
import Testing

@testable import CanopyKernels

/// Hand-run timing of the default model's hot matmuls (never runs in CI):
/// `CANOPY_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter MatMulBenchmark`
@Suite("MatMulBenchmark", .enabled(if: ProcessInfo.processInfo.environment["CANOPY_BENCH"] != nil))
struct MatMulBenchmark {
    @Test("1536×576 Q4_1/Q5_0/Q5_1, 49152×576 Q8_0, 1536×512 Q4_K/Q6_K, 1 and 64 tokens")
    func timings() throws {
        for tokens in [1, 64] {
            for precision in [MatMulPrecision.quantizedActivations, .float32] {
                for (type, rows) in [(GGMLType.q4_1, 1536), (.q5_0, 1536), (.q5_1, 1536), (.q8_0, 49152), (.q4_K, 1536), (.q6_K, 1536)] {
                    let cols = type.blockSize == 256 ? 512 : 576
                    let m = try TestMatrix.fromFixtures(type, rows: rows, cols: cols, seed: 1)
                    let x = randomActivations(tokens: tokens, cols: cols, seed: 2)
                    var y = runMatMul(m, x, tokens: tokens, precision)
                    var reps = 1
                    var seconds = 0.0
                    while seconds < 0.3 {
                        reps *= 2
                        let start = DispatchTime.now().uptimeNanoseconds
                        for _ in 0..<reps { y = runMatMul(m, x, tokens: tokens, precision) }
                        seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    }
                    let per = seconds / Double(reps)
                    print("\(type) \(rows)×\(cols) tokens \(tokens) \(precision): \(per * 1e3) ms, "
                        + "\(2 * Double(rows * cols * tokens) / per / 1e9) GFLOP/s")
                    let finite = y.allSatisfy { $0.isFinite }
                    #expect(finite)
                }
            }
        }
    }
}
