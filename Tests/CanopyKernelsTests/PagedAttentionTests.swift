import Foundation
import Testing

@testable import CanopyKernels

/// `PagedAttention.attend` against naive softmax attention computed in `Double`.
@Suite("PagedAttention")
struct PagedAttentionTests {
    /// One random shape: block size, KV heads, query heads per KV head, head dimension.
    struct Shape: CustomStringConvertible {
        var blockSize: Int
        var kvHeads: Int
        var group: Int
        var headDimension: Int
        var description: String { "block \(blockSize) kv \(kvHeads) group \(group) hd \(headDimension)" }
    }

    static let shapes: [Shape] = [
        Shape(blockSize: 16, kvHeads: 3, group: 3, headDimension: 64),
        Shape(blockSize: 1, kvHeads: 1, group: 4, headDimension: 16),
        Shape(blockSize: 8, kvHeads: 2, group: 1, headDimension: 24),
        Shape(blockSize: 32, kvHeads: 1, group: 3, headDimension: 5),
        Shape(blockSize: 3, kvHeads: 2, group: 4, headDimension: 12),
        Shape(blockSize: 16, kvHeads: 2, group: 1, headDimension: 64),
        Shape(blockSize: 7, kvHeads: 1, group: 1, headDimension: 33),
        Shape(blockSize: 64, kvHeads: 1, group: 3, headDimension: 32),
    ]

    /// Random lengths, then in one call per shape: a decode query per sequence, a prefill
    /// chunk starting mid-sequence, a chunk from position 0 and a single first token, in
    /// shuffled batch order.
    static func randomRequests(lengths: [Int], random: inout AttentionTestRandom) -> [AttentionRequest] {
        var requests: [AttentionRequest] = []
        for (s, length) in lengths.enumerated() {
            requests.append(AttentionRequest(sequence: s, firstPosition: length - 1, queryCount: 1))
            let count = Int.random(in: 1...Swift.min(length, 70), using: &random)
            let first = Int.random(in: 0...(length - count), using: &random)
            requests.append(AttentionRequest(sequence: s, firstPosition: first, queryCount: count))
        }
        requests.append(AttentionRequest(sequence: 0, firstPosition: 0, queryCount: Swift.min(lengths[0], 40)))
        requests.append(AttentionRequest(sequence: lengths.count - 1, firstPosition: 0, queryCount: 1))
        return requests.shuffled(using: &random)
    }

    /// Checks every request's rows against the reference on `keys`/`values`; returns the
    /// worst relative error.
    static func worstError(
        _ fixture: PagedAttentionFixture, _ requests: [AttentionRequest], _ outputs: [[Float]],
        keys: [[Float]], values: [[Float]]
    ) -> Double {
        let width = fixture.headCount * fixture.layout.headDimension
        var worst = 0.0
        for (request, output) in zip(requests, outputs) {
            for i in 0..<request.queryCount {
                let expected = fixture.reference(sequence: request.sequence, position: request.firstPosition + i,
                                                 keys: keys[request.sequence], values: values[request.sequence])
                let error = attentionRelativeError(Array(output[(i * width)..<((i + 1) * width)]), expected)
                worst = Swift.max(worst, error)
            }
        }
        return worst
    }

    @Test("f32 arena equals naive attention on random shapes, tables and chunks", arguments: shapes.indices)
    func randomShapes(_ index: Int) {
        let shape = Self.shapes[index]
        var random = AttentionTestRandom(seed: 1000 + UInt64(index))
        let layout = PagedKVLayout(blockSize: shape.blockSize, layers: 2, kvHeads: shape.kvHeads,
                                   headDimension: shape.headDimension, precision: .f32)
        let lengths = [Int.random(in: 1...700, using: &random), Int.random(in: 1...300, using: &random),
                       1, Int.random(in: 200...330, using: &random)]
        let fixture = PagedAttentionFixture(layout: layout, headCount: shape.kvHeads * shape.group,
                                            lengths: lengths, seed: 77 + UInt64(index), keyAmplitude: 2)
        let requests = Self.randomRequests(lengths: lengths, random: &random)
        let outputs = fixture.attend(requests)
        let error = Self.worstError(fixture, requests, outputs, keys: fixture.keys, values: fixture.values)
        #expect(error <= 1e-4, "\(shape): relative error \(error)")
    }

    @Test("f32 arena equals naive attention at long contexts, across the partition-size change")
    func longContexts() {
        let layout = PagedKVLayout(blockSize: 16, layers: 1, kvHeads: 3, headDimension: 64, precision: .f32)
        let fixture = PagedAttentionFixture(layout: layout, headCount: 9, lengths: [4096, 4130], seed: 5, keyAmplitude: 3)
        // Length 4096 is the last with 256-key partitions (16 of them); 4097 switches to 320.
        let requests = [
            AttentionRequest(sequence: 0, firstPosition: 4095, queryCount: 1),
            AttentionRequest(sequence: 1, firstPosition: 4085, queryCount: 45),
            AttentionRequest(sequence: 1, firstPosition: 250, queryCount: 12),
        ]
        let outputs = fixture.attend(requests)
        let error = Self.worstError(fixture, requests, outputs, keys: fixture.keys, values: fixture.values)
        #expect(error <= 1e-4, "relative error \(error)")

        let single = PagedKVLayout(blockSize: 1, layers: 1, kvHeads: 1, headDimension: 8, precision: .f32)
        let perToken = PagedAttentionFixture(layout: single, headCount: 3, lengths: [2100], seed: 6, keyAmplitude: 3)
        let tokenRequests = [AttentionRequest(sequence: 0, firstPosition: 2000, queryCount: 100)]
        let tokenError = Self.worstError(perToken, tokenRequests, perToken.attend(tokenRequests),
                                         keys: perToken.keys, values: perToken.values)
        #expect(tokenError <= 1e-4, "block size 1: relative error \(tokenError)")
    }

    @Test("f16 and q8 arenas: tight against the decoded rows, looser against the originals",
          arguments: [KVPrecision.f16, .q8])
    func reducedPrecision(_ precision: KVPrecision) {
        var random = AttentionTestRandom(seed: 31)
        for (index, shape) in [Self.shapes[0], Self.shapes[3], Self.shapes[4]].enumerated() {
            let layout = PagedKVLayout(blockSize: shape.blockSize, layers: 2, kvHeads: shape.kvHeads,
                                       headDimension: shape.headDimension, precision: precision)
            let lengths = [Int.random(in: 300...600, using: &random), Int.random(in: 1...100, using: &random)]
            let fixture = PagedAttentionFixture(layout: layout, headCount: shape.kvHeads * shape.group,
                                                lengths: lengths, seed: 90 + UInt64(index), keyAmplitude: 2)
            let requests = Self.randomRequests(lengths: lengths, random: &random)
            let outputs = fixture.attend(requests)
            let decodedKeys = lengths.indices.map { fixture.decoded(sequence: $0, keys: true) }
            let decodedValues = lengths.indices.map { fixture.decoded(sequence: $0, keys: false) }
            let tight = Self.worstError(fixture, requests, outputs, keys: decodedKeys, values: decodedValues)
            #expect(tight <= 1e-4, "\(precision) \(shape): vs decoded rows \(tight)")
            let loose = Self.worstError(fixture, requests, outputs, keys: fixture.keys, values: fixture.values)
            let bound = precision == .f16 ? 3e-3 : 3e-2
            #expect(loose <= bound, "\(precision) \(shape): vs original floats \(loose)")
            // The reduced precision must actually be in effect.
            #expect(loose > tight, "\(precision) \(shape): no precision loss visible")
        }
    }

    @Test("partition sizes: at least 256 keys, whole chunks, never more than 16 per query")
    func partitionSizes() {
        for blockSize in [1, 3, 16, 48, 100, 300] {
            let chunk = PagedAttentionPlan.chunkSize(blockSize: blockSize)
            #expect(chunk % blockSize == 0 && chunk >= blockSize)
            var previous = 0
            for length in Array(1...5000) + [65_536, 1_000_003, 4_000_000] {
                let size = PagedAttentionPlan.partitionSize(length: length, chunk: chunk)
                #expect(size >= 256 && size % chunk == 0 && size >= previous)
                #expect((length + size - 1) / size <= 16, "length \(length): \(size)-key partitions")
                previous = size
            }
        }
    }

    @Test("one sequence's tiles: cut so the work items load the threads evenly, only when few")
    func balancedTiles() {
        let table = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        defer { table.deallocate() }
        func rows(_ queries: Int, at position: Int, kvHeads: Int, threads: Int, tileRows: Int = 21) -> Int {
            let sequence = AttentionSequence(queryStart: 0, queryCount: queries, firstPosition: position, blockTable: table)
            return PagedAttentionPlan.balancedTileRows(sequence, tileRows: tileRows, kvHeads: kvHeads, chunk: 64, threads: threads)
        }
        // A 9-token window over 3 KV heads: 3 items for 2 threads; 2 tiles (5 + 4 rows) make 6.
        #expect(rows(9, at: 160, kvHeads: 3, threads: 2) == 5)
        // Over 4 KV heads the items already split evenly; one token cannot be cut.
        #expect(rows(9, at: 160, kvHeads: 4, threads: 2) == 21)
        #expect(rows(1, at: 160, kvHeads: 3, threads: 2) == 21)
        // Two partitions (a context past 256 keys) x 3 heads = 6 items: even already.
        #expect(rows(9, at: 300, kvHeads: 3, threads: 2) == 21)
        // A long prefill chunk is many items already.
        #expect(rows(512, at: 0, kvHeads: 3, threads: 2) == 21)
        // One thread: nothing to balance.
        #expect(rows(9, at: 160, kvHeads: 3, threads: 1) == 21)
        // 4 threads over 3 heads want 4 tiles: tiles of 3 rows (3 tiles) is the nearest cut.
        #expect(rows(9, at: 160, kvHeads: 3, threads: 4) == 3)
    }
}
