@testable import CanopyModel
import Testing

/// Pipeline stages run a batch as micro-batches of whole sequences: together they are the
/// batch, in order, with their logit rows where the whole batch has them.
@Suite("Micro-batches")
struct MicroBatchTests {
    static func batch(_ lengths: [Int], logitRows: [Int]) -> ForwardBatch {
        var batch = ForwardBatch()
        var token: Int32 = 0
        for (i, length) in lengths.enumerated() {
            let tokens = (0..<length).map { _ in token += 1; return token }
            let blocks = (length + 15) / 16
            batch.append(tokens: tokens[...], firstPosition: 0, blockTable: (0..<blocks).map { Int32(100 * i + $0) }[...],
                         blockSize: 16, logitRows: logitRows[i])
        }
        return batch
    }

    @Test("the parts are the batch, in order, balanced by tokens", arguments: [2, 3, 4, 8])
    func split(_ count: Int) {
        let whole = Self.batch([40, 1, 1, 1, 30, 2, 1, 5], logitRows: [1, 1, 1, 0, 1, 2, 1, 1])
        let parts = whole.microBatches(count, blockSize: 16)
        #expect(parts.count == min(count, whole.sequences.count))
        #expect(parts.flatMap(\.batch.tokens) == whole.tokens)
        #expect(parts.flatMap(\.batch.blockTables) == whole.blockTables)
        #expect(parts.flatMap { $0.batch.slots.map(\.block) } == whole.slots.map(\.block))
        #expect(parts.flatMap { $0.batch.sequences.map(\.logitRows) } == whole.sequences.map(\.logitRows))
        var start = 0
        for part in parts {
            #expect(!part.batch.sequences.isEmpty)
            #expect(part.logitStart == start)
            start += part.batch.logitCount
        }
        #expect(start == whole.logitCount)
        if count == 2 {
            // 40 tokens first, then the other 41: the first part stops after the 40-token slice.
            #expect(parts[0].batch.sequences.count == 1)
        }
    }

    @Test("one slice, or one part, is the batch itself")
    func single() {
        let one = Self.batch([12], logitRows: [1])
        #expect(one.microBatches(4, blockSize: 16).count == 1)
        let many = Self.batch([3, 4], logitRows: [1, 1])
        #expect(many.microBatches(1, blockSize: 16).map(\.batch.tokens) == [many.tokens])
    }

    @Test("a slice reading a block a later slice fills stays with it")
    func sharedBlocks() {
        var batch = ForwardBatch()
        // Slice 0 fills block 7 (positions 0..<16); slice 1 reuses it as a cached prefix
        // block and writes block 8; slice 2 is on its own.
        batch.append(tokens: Array(repeating: 1, count: 16)[...], firstPosition: 0, blockTable: [7][...], blockSize: 16,
                     logitRows: 1)
        batch.append(tokens: [2, 3][...], firstPosition: 16, blockTable: [7, 8][...], blockSize: 16, logitRows: 1)
        batch.append(tokens: Array(repeating: 4, count: 20)[...], firstPosition: 0, blockTable: [9, 10][...],
                     blockSize: 16, logitRows: 1)
        // Reversed order: the reader first, then its writer: they must not be cut apart.
        var reversed = ForwardBatch()
        reversed.append(tokens: [2, 3][...], firstPosition: 16, blockTable: [7, 8][...], blockSize: 16, logitRows: 1)
        reversed.append(tokens: Array(repeating: 1, count: 16)[...], firstPosition: 0, blockTable: [7][...],
                        blockSize: 16, logitRows: 1)
        reversed.append(tokens: Array(repeating: 4, count: 20)[...], firstPosition: 0, blockTable: [9, 10][...],
                        blockSize: 16, logitRows: 1)
        let parts = reversed.microBatches(3, blockSize: 16)
        #expect(parts.map(\.batch.sequences.count) == [2, 1])
        // Writer first: any cut is safe.
        #expect(batch.microBatches(3, blockSize: 16).count == 3)
    }
}
