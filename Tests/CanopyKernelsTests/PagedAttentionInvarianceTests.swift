import Foundation
import Testing

@testable import CanopyKernels

/// Batch invariance: a query row's output is bitwise identical alone, inside prefill chunks
/// of any split, and inside batches of other sequences.
@Suite("PagedAttentionInvariance")
struct PagedAttentionInvarianceTests {
    static func bits(_ values: ArraySlice<Float>) -> [UInt32] { values.map(\.bitPattern) }

    @Test("alone, in prefill chunks and in mixed batches: bitwise equal", arguments: KVPrecision.allCases)
    func invariance(_ precision: KVPrecision) {
        let layout = PagedKVLayout(blockSize: 16, layers: 1, kvHeads: 3, headDimension: 64, precision: precision)
        // Sequence 0 crosses the partition-size change at length 4097.
        let lengths = [4140, 700, 300, 37, 1000]
        let fixture = PagedAttentionFixture(layout: layout, headCount: 9, lengths: lengths, seed: 11, keyAmplitude: 3)
        let width = 9 * 64
        var random = AttentionTestRandom(seed: 12)

        // Positions of sequence 0 to check: block, chunk and partition edges.
        let positions = [0, 1, 15, 16, 63, 64, 255, 256, 257, 511, 512, 1000,
                         4079, 4094, 4095, 4096, 4097, 4100, 4139]
        var alone: [Int: [UInt32]] = [:]
        for p in positions {
            let out = fixture.attend([AttentionRequest(sequence: 0, firstPosition: p, queryCount: 1)])[0]
            alone[p] = Self.bits(out[...])
        }

        // The whole sequence as prefill chunks of varying sizes, each in its own call.
        var chunked: [Int: [UInt32]] = [:]
        var start = 0
        let chunkSizes = [1, 17, 300, 64, 5, 700, 2]
        var turn = 0
        while start < lengths[0] {
            let count = Swift.min(chunkSizes[turn % chunkSizes.count], lengths[0] - start)
            turn += 1
            let wanted = positions.filter { $0 >= start && $0 < start + count }
            if !wanted.isEmpty {
                let out = fixture.attend([AttentionRequest(sequence: 0, firstPosition: start, queryCount: count)])[0]
                for p in wanted { chunked[p] = Self.bits(out[((p - start) * width)..<((p - start + 1) * width)]) }
            }
            start += count
        }

        // Mixed batches: sequence 0 split at random among decode queries and chunks of others.
        var mixed: [Int: [UInt32]] = [:]
        for p in positions {
            let before = Int.random(in: 0...Swift.min(p, 40), using: &random)
            let after = Int.random(in: 0...Swift.min(lengths[0] - 1 - p, 40), using: &random)
            var requests = [AttentionRequest(sequence: 0, firstPosition: p - before, queryCount: before + after + 1)]
            for s in 1..<lengths.count {
                let count = Int.random(in: 1...Swift.min(lengths[s], 20), using: &random)
                requests.append(AttentionRequest(sequence: s, firstPosition: lengths[s] - count, queryCount: count))
                requests.append(AttentionRequest(sequence: s, firstPosition: Int.random(in: 0..<lengths[s], using: &random),
                                                 queryCount: 1))
            }
            requests.shuffle(using: &random)
            let outputs = fixture.attend(requests)
            let index = requests.firstIndex { $0.sequence == 0 }!
            mixed[p] = Self.bits(outputs[index][(before * width)..<((before + 1) * width)])
        }

        for p in positions {
            #expect(alone[p] != nil && alone[p]!.count == width)
            let sameInChunk = alone[p] == chunked[p]
            let sameInBatch = alone[p] == mixed[p]
            #expect(sameInChunk, "\(precision) position \(p): alone vs prefill chunk differ")
            #expect(sameInBatch, "\(precision) position \(p): alone vs mixed batch differ")
        }
    }

    @Test("tiles of other group sizes: every query of a long prefill equals its decode twin")
    func wholePrefill() {
        for (group, blockSize) in [(1, 8), (4, 1), (7, 32)] {
            let layout = PagedKVLayout(blockSize: blockSize, layers: 1, kvHeads: 1, headDimension: 20, precision: .f32)
            let fixture = PagedAttentionFixture(layout: layout, headCount: group, lengths: [300], seed: 21, keyAmplitude: 3)
            let width = group * 20
            let prefill = fixture.attend([AttentionRequest(sequence: 0, firstPosition: 0, queryCount: 300)])[0]
            let decodes = fixture.attend((0..<300).map { AttentionRequest(sequence: 0, firstPosition: $0, queryCount: 1) })
            var mismatches = 0
            for p in 0..<300 where Self.bits(prefill[(p * width)..<((p + 1) * width)]) != Self.bits(decodes[p][...]) {
                mismatches += 1
            }
            #expect(mismatches == 0, "group \(group) block \(blockSize): \(mismatches) rows differ")
        }
    }
}
