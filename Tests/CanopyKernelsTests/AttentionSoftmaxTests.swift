import CCanopyKernels
@testable import CanopyKernels
import Testing

/// The online-softmax step of paged attention (`canopy_attention_softmax_step`, C) against the
/// step written out in Swift with `VectorMath.exp`: the same bits for every chunk size, first
/// chunks (running maximum −∞) and later ones whose maximum rises or not.
@Suite("Attention online-softmax step")
struct AttentionSoftmaxTests {
    /// The step as the Swift loop computed it: chunk maximum, e^(s − m) eight at a time, the
    /// sum in order, then the running sum and maximum; returns the correction.
    static func reference(_ scores: inout [Float], count: Int, runMax: inout Float, runSum: inout Float) -> Float {
        var chunkMax = scores[0]
        for j in 1..<count { chunkMax = Swift.max(chunkMax, scores[j]) }
        let newMax = Swift.max(runMax, chunkMax)
        let correction = VectorMath.exp(runMax - newMax)
        var j = 0
        while j < count {
            var lanes = SIMD8<Float>(repeating: 0)
            for l in 0..<8 where j + l < scores.count { lanes[l] = scores[j + l] }
            let e = VectorMath.exp(lanes - newMax)
            for l in 0..<8 where j + l < scores.count { scores[j + l] = e[l] }
            j += 8
        }
        var sum: Float = 0
        for j in 0..<count { sum += scores[j] }
        runSum = runSum * correction + sum
        runMax = newMax
        return correction
    }

    @Test("the C step gives the Swift step's bits", arguments: [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 70])
    func matchesSwift(count: Int) {
        let pitch = (count + 7) / 8 * 8
        for (round, previous) in [(-Float.infinity, Float(0)), (-50, 3.5), (40, 1.25), (0.5, 9)].enumerated() {
            let values = AttentionLevelTests.values(pitch, seed: UInt64(count * 10 + round)).map { $0 * 20 }
            var expected = values, actual = values
            var (expectedMax, expectedSum) = previous
            var (actualMax, actualSum) = previous
            let correction = Self.reference(&expected, count: count, runMax: &expectedMax, runSum: &expectedSum)
            let got = actual.withUnsafeMutableBufferPointer {
                canopy_attention_softmax_step($0.baseAddress!, Int64(count), &actualMax, &actualSum)
            }
            let label = "count \(count), previous maximum \(previous.0)"
            #expect(got.bitPattern == correction.bitPattern, "\(label)")
            #expect(actualMax.bitPattern == expectedMax.bitPattern, "\(label)")
            #expect(actualSum.bitPattern == expectedSum.bitPattern, "\(label)")
            #expect(actual[..<count].map(\.bitPattern) == expected[..<count].map(\.bitPattern), "\(label)")
        }
    }
}
