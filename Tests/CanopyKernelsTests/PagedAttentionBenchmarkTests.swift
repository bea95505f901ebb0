import Foundation
import Testing

@testable import CanopyKernels

/// Hand-run timings of paged attention at the default model's shape (never runs in CI):
/// `CANOPY_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter PagedAttentionBenchmark`
@Suite("PagedAttentionBenchmark", .serialized, .enabled(if: ProcessInfo.processInfo.environment["CANOPY_BENCH"] != nil))
struct PagedAttentionBenchmarkTests {
    static func time(_ body: () -> Void) -> Double {
        body()
        var reps = 1
        var seconds = 0.0
        while seconds < 0.5 {
            reps *= 2
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<reps { body() }
            seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        return seconds / Double(reps)
    }

    @Test("decode: 64 sequences × context 1000; prefill: 512 tokens (9 heads, 3 KV, hd 64)",
          arguments: KVPrecision.allCases)
    func timings(_ precision: KVPrecision) {
        let layout = PagedKVLayout(blockSize: 16, layers: 1, kvHeads: 3, headDimension: 64, precision: precision)
        let decode = PagedAttentionFixture(layout: layout, headCount: 9, lengths: Array(repeating: 1000, count: 64),
                                           seed: 1, keyAmplitude: 2)
        let decodeRequests = (0..<64).map { AttentionRequest(sequence: $0, firstPosition: 999, queryCount: 1) }
        let decodeSeconds = Self.time { _ = decode.attend(decodeRequests) }
        let prefill = PagedAttentionFixture(layout: layout, headCount: 9, lengths: [512], seed: 2, keyAmplitude: 2)
        let prefillRequests = [AttentionRequest(sequence: 0, firstPosition: 0, queryCount: 512)]
        let prefillSeconds = Self.time { _ = prefill.attend(prefillRequests) }
        print("paged attention \(precision): decode 64×1000 \(String(format: "%.2f", decodeSeconds * 1e3)) ms, "
            + "prefill 512 \(String(format: "%.2f", prefillSeconds * 1e3)) ms")
        #expect(decodeSeconds > 0 && prefillSeconds > 0)
    }
}
