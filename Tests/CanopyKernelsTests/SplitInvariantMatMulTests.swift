import CCanopyKernels
import Testing

@testable import CanopyKernels

/// `MatMul.multiplySplitInvariant`: the products tensor parallelism splits by columns sum
/// column groups in float and the groups in double, so ranks that each hold whole groups add
/// up to one process's floats. Checked against a float64 transcription of the arithmetic
/// written here (not the kernels), for the split property itself, and for the invariants
/// every kernel keeps (levels, batches).
@Suite("Split-invariant products (double sums)", .serialized)
struct SplitInvariantMatMulTests {
    static let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0]

    /// Runs the product in double; nil if the kernel declined.
    static func run(_ m: TestMatrix, _ x: [Float], tokens: Int, groupBlocks: Int) -> [Double]? {
        var y = [Double](repeating: .nan, count: m.rows * tokens)
        let ran = m.withMatrix { w in
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    MatMul.multiplySplitInvariant(w, input: xp.baseAddress!, tokens: tokens, groupBlocks: groupBlocks,
                                                  output: yp.baseAddress!, precision: .quantizedActivations)
                }
            }
        }
        return ran ? y : nil
    }

    /// Columns `blocks` (32-value blocks) of `m` and of the `tokens` rows of `x`.
    static func columns(_ m: TestMatrix, _ x: [Float], tokens: Int, blocks: Range<Int>) -> (TestMatrix, [Float]) {
        let bb = m.type.typeSize, rowBytes = m.type.byteCount(forElements: m.cols)!
        var bytes: [UInt8] = []
        for r in 0..<m.rows {
            bytes += m.bytes[(r * rowBytes + blocks.lowerBound * bb)..<(r * rowBytes + blocks.upperBound * bb)]
        }
        var part: [Float] = []
        for t in 0..<tokens { part += x[(t * m.cols + 32 * blocks.lowerBound)..<(t * m.cols + 32 * blocks.upperBound)] }
        return (TestMatrix(type: m.type, rows: m.rows, cols: 32 * blocks.count, bytes: bytes), part)
    }

    /// One weight block as integers: values (q, offset removed), f16 scale d and min m.
    static func weightBlock(_ type: GGMLType, _ p: ArraySlice<UInt8>) -> (q: [Int], d: Double, m: Double) {
        let b = Array(p)
        func half(_ i: Int) -> Double { Double(Float(Float16(bitPattern: UInt16(b[i]) | UInt16(b[i + 1]) << 8))) }
        if type == .q8_0 { return ((0..<32).map { Int(Int8(bitPattern: b[2 + $0])) }, half(0), 0) }
        let hasMin = type == .q4_1 || type == .q5_1
        let fifth = type == .q5_0 || type == .q5_1
        let qhAt = hasMin ? 4 : 2
        let nibblesAt = qhAt + (fifth ? 4 : 0)
        let qh = fifth ? (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[qhAt + $1]) << (8 * $1) } : 0
        let q = (0..<32).map { j -> Int in
            var v = Int(j < 16 ? b[nibblesAt + j] & 0x0F : b[nibblesAt + j - 16] >> 4)
            if fifth { v |= Int(qh >> UInt32(j) & 1) << 4 }
            switch type {
            case .q4_0: return v - 8
            case .q5_0: return v - 16
            default: return v
            }
        }
        return (q, half(0), hasMin ? half(2) : 0)
    }

    /// Σ_b isum_b · d_w · d_x + m_w · s_x over the activations as the kernels quantize them
    /// (`canopy_q8_quantize`), each term and the sum in Double, with Σ |terms| as the scale.
    static func reference(_ m: TestMatrix, _ x: [Float], tokens: Int) -> (values: [Double], scales: [Double]) {
        let type = MatMul.integerKernelType(m.type)!
        let blocks = m.cols / 32, rowBytes = m.type.byteCount(forElements: m.cols)!
        var values = [Double](repeating: 0, count: m.rows * tokens), scales = values
        let bytes = canopy_q8_scratch_bytes(Int64(tokens), Int64(m.cols))
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { scratch.deallocate() }
        var rows = canopy_q8_rows()
        x.withUnsafeBufferPointer {
            canopy_q8_quantize(WorkerPool.shared.cPool, $0.baseAddress!, Int64(tokens), Int64(m.cols),
                               canopy_weight_lane_offset(type), scratch, &rows)
        }
        let pb = Int(rows.padded_blocks)
        for r in 0..<m.rows {
            let w = (0..<blocks).map { b -> (q: [Int], d: Double, m: Double) in
                let at = r * rowBytes + b * m.type.typeSize
                return weightBlock(m.type, m.bytes[at..<(at + m.type.typeSize)])
            }
            for t in 0..<tokens {
                var sum = 0.0, scale = 0.0
                for b in 0..<blocks {
                    var isum = 0
                    for j in 0..<32 { isum += w[b].q[j] * Int(rows.qs[t * m.cols + 32 * b + j]) }
                    let terms = [Double(isum) * w[b].d * Double(rows.d[t * pb + b]), w[b].m * Double(rows.s[t * pb + b])]
                    for term in terms {
                        sum += term
                        scale += abs(term)
                    }
                }
                values[t * m.rows + r] = sum
                scales[t * m.rows + r] = scale
            }
        }
        return (values, scales)
    }

    @Test("agrees with a float64 reference to float rounding", arguments: types)
    func matchesReference(type: GGMLType) throws {
        for (cols, tokens, group) in [(608, 1, 8), (608, 6, 3), (1536, 3, 8), (576, 9, 6), (576, 2, 18)] {
            let m = try TestMatrix.fromFixtures(type, rows: 23, cols: cols, seed: UInt64(cols + tokens))
            let x = randomActivations(tokens: tokens, cols: cols, seed: UInt64(tokens + 5))
            let y = try #require(Self.run(m, x, tokens: tokens, groupBlocks: group))
            let (values, scales) = Self.reference(m, x, tokens: tokens)
            for i in y.indices {
                // Float sums within a group: a few float roundings of the terms' scale.
                #expect(abs(y[i] - values[i]) <= 1e-6 * max(scales[i], 1e-30),
                        "\(type) \(cols) cols \(tokens) tokens output \(i): \(y[i]) vs \(values[i])")
            }
        }
    }

    @Test("the parts of a column split on group boundaries, added in double, round to the whole's floats",
          arguments: types)
    func splitRoundsLikeWhole(type: GGMLType) throws {
        // A feed-forward down projection (48 blocks, groups of 8) and an attention output
        // (18 blocks, groups of one key/value head's 6): 2 and 3 ranks, and uneven parts.
        for (cols, group, splits) in [(1536, 8, [[0, 24, 48], [0, 16, 32, 48], [0, 8, 40, 48]]),
                                      (576, 6, [[0, 12, 18], [0, 6, 12, 18]])] {
            let (rows, tokens) = (96, 5)
            let m = try TestMatrix.fromFixtures(type, rows: rows, cols: cols, seed: 41)
            let x = randomActivations(tokens: tokens, cols: cols, seed: 42)
            let whole = try #require(Self.run(m, x, tokens: tokens, groupBlocks: group)).map { Float($0) }
            for cuts in splits {
                var total = [Double](repeating: 0, count: rows * tokens)
                for (lo, hi) in zip(cuts, cuts.dropFirst()) {
                    let (part, px) = Self.columns(m, x, tokens: tokens, blocks: lo..<hi)
                    let y = try #require(Self.run(part, px, tokens: tokens, groupBlocks: group))
                    for i in total.indices { total[i] += y[i] }
                }
                let differing = total.indices.filter { Float(total[$0]).bitPattern != whole[$0].bitPattern }
                #expect(differing.isEmpty, "\(type) split \(cuts): \(differing.count) of \(total.count) outputs differ")
            }
            // What the groups are for: the float kernels' parts, added in float, do not round
            // like their whole.
            let floatWhole = runMatMul(m, x, tokens: tokens, .quantizedActivations)
            var floatTotal = [Float](repeating: 0, count: rows * tokens)
            for (lo, hi) in zip(splits[0], splits[0].dropFirst()) {
                let (part, px) = Self.columns(m, x, tokens: tokens, blocks: lo..<hi)
                let y = runMatMul(part, px, tokens: tokens, .quantizedActivations)
                for i in floatTotal.indices { floatTotal[i] += y[i] }
            }
            #expect(floatTotal.indices.contains { floatTotal[$0].bitPattern != floatWhole[$0].bitPattern })
        }
    }

    @Test("scalar, AVX2 and AVX-512 VNNI agree bit for bit, and batches do not change a token's row", arguments: types)
    func levelsAndBatches(type: GGMLType) throws {
        defer { InstructionSet.select(InstructionSet.ceiling) }
        // 608 columns = 19 blocks: groups of 8 end in a group of 3, groups of 3 start at odd
        // blocks; 11 tokens take the tiled kernel, 1 the one-token one, 2-3 the few-token one (and
        // 4 under AVX2; the tiles with VNNI).
        for group in [8, 3, 19] {
            let (rows, cols, tokens) = (37, 608, 11)
            let m = try TestMatrix.fromFixtures(type, rows: rows, cols: cols, seed: 7)
            let x = randomActivations(tokens: tokens, cols: cols, seed: 8)
            var results: [[UInt64]] = []
            for level in InstructionSet.allCases {
                guard InstructionSet.select(level) == level else { continue }  // above the ceiling
                results.append(try #require(Self.run(m, x, tokens: tokens, groupBlocks: group)).map(\.bitPattern))
                for (first, count) in [(0, 1), (3, 2), (5, 3), (7, 4)] {
                    let alone = try #require(
                        Self.run(m, Array(x[(first * cols)..<((first + count) * cols)]), tokens: count, groupBlocks: group))
                    #expect(alone.map(\.bitPattern) == Array(results.last![(first * rows)..<((first + count) * rows)]),
                            "\(type) groups of \(group) at \(level): tokens \(first)..<\(first + count) alone")
                }
            }
            for r in results.dropFirst() { #expect(r == results[0], "\(type) groups of \(group): levels differ") }
        }
    }

    @Test("declines what has no split-invariant kernel")
    func declines() throws {
        let x = randomActivations(tokens: 2, cols: 512, seed: 3)
        for (type, precision) in [(GGMLType.q4_K, MatMulPrecision.quantizedActivations), (.f32, .quantizedActivations),
                                  (.q8_0, .float32)] {
            let m = try TestMatrix.fromFixtures(type, rows: 4, cols: 512, seed: 1)
            var y = [Double](repeating: .nan, count: 8)
            let ran = m.withMatrix { w in
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer {
                        MatMul.multiplySplitInvariant(w, input: xp.baseAddress!, tokens: 2, groupBlocks: 8,
                                                      output: $0.baseAddress!, precision: precision)
                    }
                }
            }
            #expect(!ran && y.allSatisfy(\.isNaN), "\(type) \(precision)")
        }
    }
}
