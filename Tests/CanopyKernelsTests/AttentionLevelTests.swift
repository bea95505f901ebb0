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
                    canopy_attention_scores_at(level, q.baseAddress, rows, CANOPY_KV_ROW_F32, Int64(count), Int64(hd), &out)
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
                canopy_attention_accumulate_at(level, &acc, 0.75, weights, rows, CANOPY_KV_ROW_F32, Int64(count), Int64(hd))
            }
            return acc.map(\.bitPattern)
        }
        #expect(run(CANOPY_ISA_AVX512VNNI) == run(CANOPY_ISA_AVX2), "hd \(hd), \(count) rows")
        #expect(run(CANOPY_ISA_AVX2) != start.map(\.bitPattern))
    }
}

/// Calls `body` with a C array of pointers to the rows' storage, valid for the call.
private func withRowPointers<Element, R>(_ rows: [[Element]], _ body: (UnsafePointer<UnsafeRawPointer?>) -> R) -> R {
    let pointers = UnsafeMutablePointer<UnsafeRawPointer?>.allocate(capacity: max(1, rows.count))
    defer { pointers.deallocate() }
    let copies = rows.map { row -> UnsafeMutablePointer<Element> in
        let copy = UnsafeMutablePointer<Element>.allocate(capacity: max(1, row.count))
        copy.initialize(from: row, count: row.count)
        return copy
    }
    defer { copies.forEach { $0.deallocate() } }
    for (i, copy) in copies.enumerated() { pointers[i] = UnsafeRawPointer(copy) }
    return body(UnsafePointer(pointers))
}

/// The attention loops read f16 K/V rows in place, widening them as they load: at every
/// level the result must be the one over the rows' exact f32 copies, bit for bit, so a
/// cache kept in f16 attends exactly as before the loops read it directly (and the level
/// comparisons above, on f32 rows, carry over).
@Suite("Attention loops over f16 rows")
struct AttentionHalfRowTests {
    static let levels: [canopy_isa] = [CANOPY_ISA_SCALAR, CANOPY_ISA_AVX2, CANOPY_ISA_AVX512VNNI]
        .filter { $0.rawValue <= canopy_isa_supported().rawValue }

    /// f16 bit patterns of values in [-2, 2), and their exact f32 values.
    static func halfRows(_ count: Int, _ hd: Int, seed: Int) -> (half: [[UInt16]], wide: [[Float]]) {
        let half = (0..<count).map { j in
            AttentionLevelTests.values(hd, seed: UInt64(seed * 1000 + j + 1)).map { HalfFloat.fromFloat($0) }
        }
        return (half, half.map { $0.map(HalfFloat.toFloat) })
    }

    @Test("scores over f16 rows equal scores over their f32 copies", arguments: AttentionLevelTests.shapes.indices)
    func scores(index: Int) {
        let (hd, count) = AttentionLevelTests.shapes[index]
        let q = AttentionLevelTests.values(hd, seed: UInt64(31 + index))
        let rows = Self.halfRows(count, hd, seed: index)
        for level in Self.levels {
            func run<E>(_ keys: [[E]], _ type: canopy_kv_row) -> [UInt32] {
                var out = [Float](repeating: .nan, count: count)
                withRowPointers(keys) { canopy_attention_scores_at(level, q, $0, type, Int64(count), Int64(hd), &out) }
                return out.map(\.bitPattern)
            }
            let half = run(rows.half, CANOPY_KV_ROW_F16)
            #expect(half == run(rows.wide, CANOPY_KV_ROW_F32), "level \(level.rawValue), hd \(hd), \(count) keys")
            #expect(!half.contains(Float.nan.bitPattern))
        }
    }

    @Test("value sums over f16 rows equal sums over their f32 copies", arguments: AttentionLevelTests.shapes.indices)
    func accumulate(index: Int) {
        let (hd, count) = AttentionLevelTests.shapes[index]
        let start = AttentionLevelTests.values(hd, seed: UInt64(91 + index))
        let weights = AttentionLevelTests.values(count, seed: UInt64(17 + index))
        let rows = Self.halfRows(count, hd, seed: 50 + index)
        for level in Self.levels {
            func run<E>(_ values: [[E]], _ type: canopy_kv_row) -> [UInt32] {
                var acc = start
                withRowPointers(values) {
                    canopy_attention_accumulate_at(level, &acc, 0.75, weights, $0, type, Int64(count), Int64(hd))
                }
                return acc.map(\.bitPattern)
            }
            let half = run(rows.half, CANOPY_KV_ROW_F16)
            #expect(half == run(rows.wide, CANOPY_KV_ROW_F32), "level \(level.rawValue), hd \(hd), \(count) rows")
            #expect(half != start.map(\.bitPattern))
        }
    }
}

/// The query heads of one KV head go through the loops together (`canopy_attention_*_group`),
/// each f16 row widened once for all of them: each head's result must be the bits of the
/// one-head loop, for every group size (1-7: chunks of 4 and their remainders), row type and
/// shape (including the AVX2 fallbacks for head sizes that are not multiples of 8 or 16).
@Suite("Attention loops for query groups")
struct AttentionGroupTests {
    static let cases: [(group: Int, shape: Int)] = (1...7).flatMap { g in AttentionLevelTests.shapes.indices.map { (g, $0) } }

    @Test("each head of a group gets the one-head scores and value sums", arguments: cases.indices)
    func groupEqualsOneHead(index: Int) {
        let (group, shape) = Self.cases[index]
        let (hd, count) = AttentionLevelTests.shapes[shape]
        let pitch = (count + 7) / 8 * 8 + 3, slot = hd + 5
        let queries = AttentionLevelTests.values(group * hd, seed: UInt64(300 + index))
        let rows = AttentionHalfRowTests.halfRows(count, hd, seed: 700 + index)
        let weights = AttentionLevelTests.values(group * pitch, seed: UInt64(900 + index))
        let starts = AttentionLevelTests.values(group * slot, seed: UInt64(1100 + index))
        let corrections = (0..<group).map { 0.5 + Float($0) * 0.125 }
        for (type, keys) in [(CANOPY_KV_ROW_F16, rows.half as [Any]), (CANOPY_KV_ROW_F32, rows.wide as [Any])] {
            func pointers<R>(_ body: (UnsafePointer<UnsafeRawPointer?>) -> R) -> R {
                type == CANOPY_KV_ROW_F16 ? withRowPointers(keys as! [[UInt16]], body) : withRowPointers(keys as! [[Float]], body)
            }
            var grouped = [Float](repeating: .nan, count: group * pitch)
            var alone = grouped
            var groupedAcc = starts, aloneAcc = starts
            pointers { rows in
                canopy_attention_scores_group(queries, Int64(hd), Int64(group), rows, type, Int64(count), Int64(hd),
                                              &grouped, Int64(pitch))
                canopy_attention_accumulate_group(&groupedAcc, Int64(slot), corrections, weights, Int64(pitch), Int64(group),
                                                  rows, type, Int64(count), Int64(hd))
                for g in 0..<group {
                    queries.withUnsafeBufferPointer { q in
                        alone.withUnsafeMutableBufferPointer { out in
                            canopy_attention_scores(q.baseAddress! + g * hd, rows, type, Int64(count), Int64(hd),
                                                    out.baseAddress! + g * pitch)
                        }
                    }
                    weights.withUnsafeBufferPointer { w in
                        aloneAcc.withUnsafeMutableBufferPointer { acc in
                            canopy_attention_accumulate(acc.baseAddress! + g * slot, corrections[g], w.baseAddress! + g * pitch,
                                                        rows, type, Int64(count), Int64(hd))
                        }
                    }
                }
            }
            let label = "group \(group), hd \(hd), \(count) keys, type \(type.rawValue)"
            #expect(grouped.map(\.bitPattern) == alone.map(\.bitPattern), "\(label)")
            #expect(groupedAcc.map(\.bitPattern) == aloneAcc.map(\.bitPattern), "\(label)")
            #expect(groupedAcc.map(\.bitPattern) != starts.map(\.bitPattern))
        }
    }
}

/// The AVX2 loops (which the AVX-512 ones match bit for bit) against their order spelled out
/// here in Swift, so a rewrite of the loops for speed cannot move a bit unnoticed on a machine
/// without AVX-512: scores keep 8 lane chains of FMAs over the row's blocks of 8, reduced as
/// (l0+l4, l1+l5, l2+l6, l3+l7), then (s0+s2, s1+s3), then the two, and a tail of multiply-adds;
/// value sums keep one FMA chain per value, acc · correction first, rows in order.
@Suite("AVX2 attention loops follow their spelled-out order", .enabled(if: InstructionSet.ceiling >= .avx2))
struct AttentionAVX2OrderTests {
    static func score(_ q: [Float], _ k: [Float]) -> Float {
        let hd = q.count, whole = hd / 8 * 8
        var lanes = [Float](repeating: 0, count: 8)
        for i in stride(from: 0, to: whole, by: 8) {
            for l in 0..<8 { lanes[l] = lanes[l].addingProduct(q[i + l], k[i + l]) }
        }
        let s4 = (0..<4).map { lanes[$0] + lanes[$0 + 4] }
        var s = (s4[0] + s4[2]) + (s4[1] + s4[3])
        for i in whole..<hd { s += q[i] * k[i] }
        return s
    }

    static func sums(_ start: [Float], _ correction: Float, _ w: [Float], _ rows: [[Float]]) -> [Float] {
        let hd = start.count, whole = hd / 8 * 8
        return (0..<hd).map { d in
            var a = start[d] * correction
            for j in rows.indices { a = d < whole ? a.addingProduct(w[j], rows[j][d]) : a + w[j] * rows[j][d] }
            return a
        }
    }

    @Test("grouped scores and value sums equal the spelled-out order", arguments: AttentionGroupTests.cases.indices)
    func spelledOut(index: Int) {
        let (group, shape) = AttentionGroupTests.cases[index]
        let (hd, count) = AttentionLevelTests.shapes[shape]
        let pitch = count + 1, slot = hd + 3
        let queries = AttentionLevelTests.values(group * hd, seed: UInt64(4000 + index))
        let rows = AttentionHalfRowTests.halfRows(count, hd, seed: 4500 + index)
        let weights = AttentionLevelTests.values(group * pitch, seed: UInt64(5000 + index))
        let starts = AttentionLevelTests.values(group * slot, seed: UInt64(5500 + index))
        let corrections = (0..<group).map { 0.75 - Float($0) * 0.0625 }
        var scores = [Float](repeating: .nan, count: group * pitch), acc = starts
        withRowPointers(rows.half) { keys in
            canopy_attention_scores_group(queries, Int64(hd), Int64(group), keys, CANOPY_KV_ROW_F16, Int64(count), Int64(hd),
                                          &scores, Int64(pitch))
            canopy_attention_accumulate_group(&acc, Int64(slot), corrections, weights, Int64(pitch), Int64(group), keys,
                                              CANOPY_KV_ROW_F16, Int64(count), Int64(hd))
        }
        for g in 0..<group {
            let q = Array(queries[(g * hd)..<((g + 1) * hd)])
            let want = rows.wide.map { Self.score(q, $0) }
            #expect(scores[(g * pitch)..<(g * pitch + count)].map(\.bitPattern) == want.map(\.bitPattern),
                    "scores: group \(group), hd \(hd), \(count) keys, vector \(g)")
            let sums = Self.sums(Array(starts[(g * slot)..<(g * slot + hd)]), corrections[g],
                                 Array(weights[(g * pitch)..<(g * pitch + count)]), rows.wide)
            #expect(acc[(g * slot)..<(g * slot + hd)].map(\.bitPattern) == sums.map(\.bitPattern),
                    "value sums: group \(group), hd \(hd), \(count) rows, vector \(g)")
        }
    }
}
