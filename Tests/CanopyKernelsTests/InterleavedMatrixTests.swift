import CCanopyKernels
import Testing

@testable import CanopyKernels

/// Q4_1 and Q8_0 matrices with an interleaved copy (`canopy_q4_1_interleave`,
/// `canopy_q8_0_interleave`, `WeightMatrix.interleaved`): the copy holds the same blocks, and
/// the kernels that read it compute the row-major kernels' bits at every level, token count,
/// grouping and thread split. (The row-major results themselves are checked against the
/// scalar reference, ggml's formula and a float64 product elsewhere.)
@Suite("Interleaved Q4_1 and Q8_0 weights", .serialized)
struct InterleavedMatrixTests {
    static let types: [GGMLType] = [.q4_1, .q8_0]

    /// Runs `body` with `m` as a matrix that carries an interleaved copy.
    static func withInterleaved<R>(_ m: TestMatrix, _ body: (WeightMatrix) -> R) -> R {
        var copy = [UInt8](repeating: 0, count: m.bytes.count)
        let status = m.bytes.withUnsafeBytes { src in
            copy.withUnsafeMutableBytes {
                WeightMatrix.interleave(type: m.type, rows: m.rows, cols: m.cols, from: src.baseAddress!, into: $0.baseAddress!)
            }
        }
        precondition(status)
        return m.bytes.withUnsafeBytes { src in
            copy.withUnsafeBytes { packed in
                body(WeightMatrix(type: m.type, rows: m.rows, cols: m.cols, data: src.baseAddress!, interleaved: packed.baseAddress!))
            }
        }
    }

    static func product(_ w: WeightMatrix, _ x: [Float], tokens: Int) -> [UInt32] {
        var y = [Float](repeating: .nan, count: w.rows * tokens)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                MatMul.multiply(w, input: xp.baseAddress!, tokens: tokens, output: yp.baseAddress!, precision: .quantizedActivations)
            }
        }
        return y.map(\.bitPattern)
    }

    static func grouped(_ w: WeightMatrix, _ x: [Float], tokens: Int, groupBlocks: Int) -> [UInt64] {
        var y = [Double](repeating: .nan, count: w.rows * tokens)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                _ = MatMul.multiplySplitInvariant(w, input: xp.baseAddress!, tokens: tokens, groupBlocks: groupBlocks,
                                                  output: yp.baseAddress!, precision: .quantizedActivations)
            }
        }
        return y.map(\.bitPattern)
    }

    @Test("the copy holds every block of every row, and other shapes are refused", arguments: types)
    func blocksSurvive(type: GGMLType) throws {
        let group = WeightMatrix.interleavedGroupRows(of: type)
        let rows = 3 * group, blockBytes = type.typeSize
        let m = try TestMatrix.fromFixtures(type, rows: rows, cols: 608, seed: 3)
        var copy = [UInt8](repeating: 0, count: m.bytes.count)
        let status = m.bytes.withUnsafeBytes { src in
            copy.withUnsafeMutableBytes {
                WeightMatrix.interleave(type: type, rows: rows, cols: 608, from: src.baseAddress!, into: $0.baseAddress!)
            }
        }
        #expect(status)
        #expect(copy != m.bytes)  // a different layout, not a copy of the rows
        let rowBytes = 19 * blockBytes
        var block = [UInt8](repeating: 0, count: blockBytes)
        for r in 0..<rows {
            for b in 0..<19 {
                copy.withUnsafeBytes {
                    if type == .q4_1 {
                        canopy_q4_1_interleaved_block($0.baseAddress!, 608, Int64(r), Int64(b), &block)
                    } else {
                        canopy_q8_0_interleaved_block($0.baseAddress!, 608, Int64(r), Int64(b), &block)
                    }
                }
                let start = r * rowBytes + blockBytes * b
                #expect(Array(m.bytes[start..<(start + blockBytes)]) == block, "row \(r) block \(b)")
            }
        }
        let refused = m.bytes.withUnsafeBytes { src in
            copy.withUnsafeMutableBytes {
                WeightMatrix.interleave(type: type, rows: rows - 4, cols: 608, from: src.baseAddress!, into: $0.baseAddress!)
            }
        }
        #expect(!refused)  // the C function's own check of the shape
        #expect(!WeightMatrix.canInterleave(type: type, rows: rows - 4) && WeightMatrix.canInterleave(type: type, rows: rows))
    }

    @Test("interleaved equals row-major bit for bit: every level, token count and column grouping", arguments: types)
    func equalsRowMajor(type: GGMLType) throws {
        defer { InstructionSet.select(InstructionSet.ceiling) }
        // 608 columns = 19 blocks (a tail of 3 past 16); 5 tokens split 3 + 2, 70 cross the
        // 64-token tile, 17 the 12-token tile; groups of 7 blocks end mid-lane and leave a short
        // last group. 40 rows are an odd number of 8-row groups (the VNNI kernel takes them in
        // pairs; Q8_0's groups are 16 rows); 160 columns, 5 blocks, leave lanes no block reaches.
        for (rows, cols, seed) in [(48, 608, 11), (type == .q4_1 ? 40 : 80, 608, 13), (32, 160, 12)] {
            let m = try TestMatrix.fromFixtures(type, rows: rows, cols: cols, seed: UInt64(seed))
            for tokens in [1, 2, 3, 4, 5, 9, 17, 70] {
                let x = randomActivations(tokens: tokens, cols: cols, seed: UInt64(100 + tokens))
                var levels = 0
                for level in InstructionSet.allCases where InstructionSet.select(level) == level {
                    levels += 1
                    let rowMajor = m.withMatrix { Self.product($0, x, tokens: tokens) }
                    let packed = Self.withInterleaved(m) { Self.product($0, x, tokens: tokens) }
                    #expect(packed == rowMajor, "\(level) \(rows) x \(cols), \(tokens) tokens")
                    for groupBlocks in [7, 16] {
                        let rowMajor = m.withMatrix { Self.grouped($0, x, tokens: tokens, groupBlocks: groupBlocks) }
                        let packed = Self.withInterleaved(m) { Self.grouped($0, x, tokens: tokens, groupBlocks: groupBlocks) }
                        #expect(packed == rowMajor, "\(level) \(tokens) tokens, groups of \(groupBlocks)")
                    }
                }
                #expect(levels >= 1)
            }
        }
    }

    @Test("one pass over row-major and interleaved jobs at unaligned offsets computes each one's bits", arguments: types)
    func mixedPass(type: GGMLType) throws {
        // 17 row-major rows first put the interleaved jobs at offsets that are not multiples
        // of 8 (or 16), so the threads' row ranges are moved onto their groups of rows.
        let (cols, tokens) = (576, 6)
        let plain = try TestMatrix.fromFixtures(type, rows: 17, cols: cols, seed: 21)
        let a = try TestMatrix.fromFixtures(type, rows: 64, cols: cols, seed: 22)
        let b = try TestMatrix.fromFixtures(type, rows: type == .q4_1 ? 40 : 48, cols: cols, seed: 23)
        let x = randomActivations(tokens: tokens, cols: cols, seed: 24)
        let separate = [plain, a, b].map { m in m.withMatrix { Self.product($0, x, tokens: tokens) } }
        let counts = [plain, a, b].map { $0.rows * tokens }
        let outputs = counts.map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
        defer { outputs.forEach { $0.deallocate() } }
        plain.withMatrix { p in
            Self.withInterleaved(a) { pa in
                Self.withInterleaved(b) { pb in
                    x.withUnsafeBufferPointer { xp in
                        MatMul.multiply([p, pa, pb], input: xp.baseAddress!, tokens: tokens, outputs: outputs,
                                        precision: .quantizedActivations)
                    }
                }
            }
        }
        for i in 0..<3 {
            let got = Array(UnsafeBufferPointer(start: outputs[i], count: counts[i])).map(\.bitPattern)
            #expect(got == separate[i], "matrix \(i)")
        }
    }
}
