import Testing

@testable import CanopyKernels

/// The C integer kernels: every instruction-set level and every batch shape must compute the
/// same bits (the matmul results are checked against ggml's integer formula in
/// `QuantizedDotTests`).
@Suite("Integer kernels (CCanopyKernels)", .serialized)
struct IntegerKernelTests {
    static let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0]

    @Test("scalar, AVX2 and AVX-512 VNNI kernels agree bit for bit", arguments: types)
    func levelsAgree(type: GGMLType) throws {
        defer { InstructionSet.select(InstructionSet.ceiling) }
        // 576 columns = 18 blocks (even), 608 = 19 (odd tail block); 70 tokens cross the
        // 64-token tile and the 4-token micro-kernel; 37 rows cross the 2-row tile; 2 and 3
        // tokens take the few-token decode kernel; 4 takes it under AVX2 and the tiles with
        // VNNI, so those levels agree across the two paths.
        for (cols, tokens) in [(576, 1), (576, 70), (608, 5), (608, 2), (576, 3), (608, 4)] {
            let m = try TestMatrix.fromFixtures(type, rows: 37, cols: cols, seed: UInt64(cols + tokens))
            let x = randomActivations(tokens: tokens, cols: cols, seed: UInt64(tokens))
            var results: [[UInt32]] = []
            for level in InstructionSet.allCases {
                guard InstructionSet.select(level) == level else { continue }  // above the ceiling
                results.append(runMatMul(m, x, tokens: tokens, .quantizedActivations).map(\.bitPattern))
            }
            #expect(results.count >= 1)
            for r in results.dropFirst() { #expect(r == results[0], "\(type) \(cols) cols \(tokens) tokens") }
        }
    }

    @Test("each token's output is the same alone as inside any batch", arguments: types)
    func batchInvariance(type: GGMLType) throws {
        let (rows, cols, tokens) = (45, 576, 70)
        let m = try TestMatrix.fromFixtures(type, rows: rows, cols: cols, seed: 77)
        let x = randomActivations(tokens: tokens, cols: cols, seed: 78)
        let batched = runMatMul(m, x, tokens: tokens, .quantizedActivations)
        for t in [0, 1, 3, 4, 63, 64, 69] {
            let alone = runMatMul(m, Array(x[(t * cols)..<((t + 1) * cols)]), tokens: 1, .quantizedActivations)
            #expect(alone.map(\.bitPattern) == batched[(t * rows)..<((t + 1) * rows)].map(\.bitPattern), "token \(t)")
        }
        // And a 5-token slice starting mid-batch (a different micro-kernel split).
        let slice = runMatMul(m, Array(x[(2 * cols)..<(7 * cols)]), tokens: 5, .quantizedActivations)
        #expect(slice.map(\.bitPattern) == batched[(2 * rows)..<(7 * rows)].map(\.bitPattern))
        // 2- to 4-token batches (decode steps of a few branches, verification windows) share
        // each unpacked block, or (4 with VNNI) take the tiles; Q8_0 under AVX2 takes the
        // shared blocks in groups of 4 up to 12 tokens (6 = 4 + 2, 9 = 4 + 5, 12 = 4 + 4 + 4).
        for (first, count) in [(10, 2), (61, 3), (20, 4), (50, 6), (30, 9), (40, 12)] {
            let few = runMatMul(m, Array(x[(first * cols)..<((first + count) * cols)]), tokens: count, .quantizedActivations)
            #expect(few.map(\.bitPattern) == batched[(first * rows)..<((first + count) * rows)].map(\.bitPattern),
                    "\(count) tokens")
        }
    }

    static let kQuants: [GGMLType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    @Test("K-quant products: scalar, AVX2 and AVX-512 VNNI agree bit for bit, and batches do not change a token's row",
          arguments: kQuants)
    func kQuantLevelsAndBatches(type: GGMLType) throws {
        defer { InstructionSet.select(InstructionSet.ceiling) }
        // Token counts cover decode, the 4-token tail tiles and the 16-token tiles (17 and 64:
        // full tiles plus a tail); 19 and 21 rows leave partial 8-row groups; 768 columns are
        // an odd number of super-blocks.
        for (rows, cols, tokens) in [(19, 512, 1), (21, 768, 3), (19, 512, 5), (21, 768, 17), (19, 512, 64)] {
            let m = try TestMatrix.fromFixtures(type, rows: rows, cols: cols, seed: UInt64(40 + tokens))
            let x = randomActivations(tokens: tokens, cols: cols, seed: UInt64(41 + tokens))
            var results: [[UInt32]] = []
            for level in InstructionSet.allCases where InstructionSet.select(level) == level {
                results.append(runMatMul(m, x, tokens: tokens, .quantizedActivations).map(\.bitPattern))
            }
            #expect(results.count >= 1)
            for r in results.dropFirst() { #expect(r == results[0], "\(type) \(rows)×\(cols), \(tokens) tokens") }
        }
        InstructionSet.select(InstructionSet.ceiling)
        let (rows, cols, tokens) = (19, 512, 21)
        let m = try TestMatrix.fromFixtures(type, rows: rows, cols: cols, seed: 40)
        let x = randomActivations(tokens: tokens, cols: cols, seed: 41)
        let batched = runMatMul(m, x, tokens: tokens, .quantizedActivations)
        for t in [0, 5, 16, 20] {
            let alone = runMatMul(m, Array(x[(t * cols)..<((t + 1) * cols)]), tokens: 1, .quantizedActivations)
            #expect(alone.map(\.bitPattern) == batched[(t * rows)..<((t + 1) * rows)].map(\.bitPattern), "\(type) token \(t)")
        }
    }

    @Test("a grouped product equals the separate products")
    func groupedProduct() throws {
        let (cols, tokens) = (576, 6)
        let mats = try [(64, UInt64(1)), (17, 2), (33, 3)].map { try TestMatrix.fromFixtures(.q4_1, rows: $0.0, cols: cols, seed: $0.1) }
        let x = randomActivations(tokens: tokens, cols: cols, seed: 5)
        let separate = mats.map { runMatMul($0, x, tokens: tokens, .quantizedActivations) }
        var outputs = mats.map { [Float](repeating: .nan, count: $0.rows * tokens) }
        let pointers = outputs.indices.map { i in UnsafeMutablePointer<Float>.allocate(capacity: outputs[i].count) }
        defer { pointers.forEach { $0.deallocate() } }
        mats[0].withMatrix { a in
            mats[1].withMatrix { b in
                mats[2].withMatrix { c in
                    x.withUnsafeBufferPointer { xp in
                        MatMul.multiply([a, b, c], input: xp.baseAddress!, tokens: tokens, outputs: pointers, precision: .quantizedActivations)
                    }
                }
            }
        }
        for i in outputs.indices {
            outputs[i] = Array(UnsafeBufferPointer(start: pointers[i], count: outputs[i].count))
            #expect(outputs[i].map(\.bitPattern) == separate[i].map(\.bitPattern), "matrix \(i)")
        }
    }

    @Test("the worker pool runs every iteration exactly once, also with concurrent callers")
    func poolCoverage() async {
        let pool = WorkerPool.shared
        #expect(pool.threadCount >= 1)
        await withTaskGroup(of: Bool.self) { group in
            for caller in 0..<4 {
                group.addTask {
                    var ok = true
                    for round in 0..<50 {
                        let n = 1 + (caller * 131 + round * 17) % 300
                        let counts = UnsafeMutablePointer<Int32>.allocate(capacity: n)
                        counts.initialize(repeating: 0, count: n)
                        pool.forEach(n) { counts[$0] += 1 }
                        for i in 0..<n where counts[i] != 1 { ok = false }
                        counts.deallocate()
                    }
                    return ok
                }
            }
            for await ok in group { #expect(ok) }
        }
    }
}

/// The C Q8_K quantizer (K-quant activations) writes the reference quantizer's bytes
/// (`ActivationQuantizer.quantizeRow`, ggml's quantize_row_q8_K_ref) at every level.
@Suite("Q8_K activation quantization (CCanopyKernels)")
struct Q8KQuantizerTests {
    @Test("C equals the reference, bit for bit, at every level and batch size")
    func matchesReference() {
        defer { InstructionSet.select(InstructionSet.ceiling) }
        let cols = 768
        for tokens in [1, 3, 9] {
            var x = randomActivations(tokens: tokens, cols: cols, seed: UInt64(40 + tokens))
            // Edge cases: an all-zero block, a negative extreme, a tie for the largest
            // magnitude with opposite signs (the first one sets the sign), values at .5 steps.
            for j in 0..<256 { x[j] = 0 }
            x[256 + 7] = -9.5
            x[512 + 3] = 4.25
            x[512 + 90] = -4.25
            if tokens > 1 { for j in 0..<256 { x[cols + j] = Float(j % 17 - 8) * 0.5 } }
            let rowBytes = GGMLType.q8_K.byteCount(forElements: cols)!
            var reference = [UInt8](repeating: 0xAA, count: tokens * rowBytes)
            x.withUnsafeBufferPointer { xp in
                reference.withUnsafeMutableBytes { out in
                    for t in 0..<tokens {
                        ActivationQuantizer.quantizeRow(
                            .q8_K, from: xp.baseAddress! + t * cols, into: out.baseAddress! + t * rowBytes, count: cols)
                    }
                }
            }
            for level in InstructionSet.allCases where InstructionSet.select(level) == level {
                var fast = [UInt8](repeating: 0x55, count: tokens * rowBytes)
                x.withUnsafeBufferPointer { xp in
                    fast.withUnsafeMutableBytes { out in
                        ActivationQuantizer.quantizeRowsQ8_K(xp.baseAddress!, tokens: tokens, cols: cols, into: out.baseAddress!)
                    }
                }
                #expect(fast == reference, "\(tokens) tokens at \(level)")
            }
        }
    }
}
