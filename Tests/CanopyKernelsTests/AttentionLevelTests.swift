import CCanopyKernels
import CanopyKernels
import Testing

/// The attention loops compute the same bits at AVX-512 as at AVX2, so an AVX-512 machine
/// generates an AVX2 machine's tokens (`attention.c`). Runs where the CPU (and the process's
/// CANOPY_MAX_ISA ceiling) has AVX-512; elsewhere there is nothing to compare.
@Suite("Attention loops across levels", .enabled(if: InstructionSet.ceiling >= .avx512vnni))
struct AttentionLevelTests {
    /// Deterministic values in [-2, 2) with full mantissas, so any change of summation order
    /// shows in the low bits.
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Double(state >> 11) / Double(1 << 53)) * 4 - 2
        }
    }

    static let shapes: [(hd: Int, count: Int)] = [
        (64, 1), (64, 2), (64, 33), (256, 7), (256, 64), (128, 16), (72, 5), (80, 9), (8, 3), (12, 4),
    ]

    @Test("query-key scores: AVX-512 equals AVX2 bit for bit", arguments: shapes.indices)
    func scores(index: Int) {
        let (hd, count) = Self.shapes[index]
        let q = Self.values(hd, seed: UInt64(index))
        let keys = (0..<count).map { Self.values(hd, seed: UInt64(1000 * index + $0 + 1)) }
        func run(_ level: canopy_isa) -> [UInt32] {
            var out = [Float](repeating: .nan, count: count)
            q.withUnsafeBufferPointer { q in
                withRowPointers(keys) { rows in
                    canopy_attention_scores_at(level, q.baseAddress, rows, Int64(count), Int64(hd), &out)
                }
            }
            return out.map(\.bitPattern)
        }
        let wide = run(CANOPY_ISA_AVX512VNNI), narrow = run(CANOPY_ISA_AVX2)
        #expect(wide == narrow, "hd \(hd), \(count) keys")
        #expect(!wide.contains(Float.nan.bitPattern))
    }

    @Test("weighted value sums: AVX-512 equals AVX2 bit for bit", arguments: shapes.indices)
    func accumulate(index: Int) {
        let (hd, count) = Self.shapes[index]
        let start = Self.values(hd, seed: UInt64(77 + index))
        let weights = Self.values(count, seed: UInt64(55 + index))
        let rows = (0..<count).map { Self.values(hd, seed: UInt64(5000 * index + $0 + 1)) }
        func run(_ level: canopy_isa) -> [UInt32] {
            var acc = start
            withRowPointers(rows) { rows in
                canopy_attention_accumulate_at(level, &acc, 0.75, weights, rows, Int64(count), Int64(hd))
            }
            return acc.map(\.bitPattern)
        }
        #expect(run(CANOPY_ISA_AVX512VNNI) == run(CANOPY_ISA_AVX2), "hd \(hd), \(count) rows")
        #expect(run(CANOPY_ISA_AVX2) != start.map(\.bitPattern))
    }
}

/// Calls `body` with a C array of pointers to the rows' storage, valid for the call.
private func withRowPointers<R>(_ rows: [[Float]], _ body: (UnsafePointer<UnsafePointer<Float>?>) -> R) -> R {
    let pointers = UnsafeMutablePointer<UnsafePointer<Float>?>.allocate(capacity: max(1, rows.count))
    defer { pointers.deallocate() }
    let copies = rows.map { row -> UnsafeMutablePointer<Float> in
        let copy = UnsafeMutablePointer<Float>.allocate(capacity: max(1, row.count))
        copy.initialize(from: row, count: row.count)
        return copy
    }
    defer { copies.forEach { $0.deallocate() } }
    for (i, copy) in copies.enumerated() { pointers[i] = UnsafePointer(copy) }
    return body(UnsafePointer(pointers))
}
