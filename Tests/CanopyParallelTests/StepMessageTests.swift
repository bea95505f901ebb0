import CanopyKernels
import CanopyModel
@testable import CanopyParallel
import Testing

/// The step messages rank 0 sends: every field a pass depends on survives the trip, and
/// a message that does not add up is refused rather than run.
@Suite("Step messages")
struct StepMessageTests {
    static func sampleBatch(blockSize: Int) -> ForwardBatch {
        var batch = ForwardBatch()
        // A prefill chunk in the middle of a prompt, a decode, and a verify of 3 proposals.
        batch.append(tokens: [5, 6, 7, 8, 9][...], firstPosition: 14, blockTable: [3, 9][...], blockSize: blockSize,
                     logitRows: 1)
        batch.append(tokens: [42][...], firstPosition: 40, blockTable: [1, 2, 4][...], blockSize: blockSize,
                     logitRows: 1)
        batch.append(tokens: [10, 11, 12, 13][...], firstPosition: 0, blockTable: [7][...], blockSize: blockSize,
                     logitRows: 4)
        return batch
    }

    @Test("a forward pass, its block copies and the arena geometry round-trip")
    func roundTrip() throws {
        let batch = Self.sampleBatch(blockSize: 16)
        let copies = [BlockCopyLog.Copy(from: 2, to: 11), BlockCopyLog.Copy(from: 4, to: 5)]
        guard case .forward(let decoded, let decodedCopies) = try StepMessage.decode(
            StepMessage.forward(batch, copies: copies).encoded(), blockSize: 16) else {
            Issue.record("not a forward message")
            return
        }
        #expect(decoded.tokens == batch.tokens)
        #expect(decoded.blockTables == batch.blockTables)
        #expect(decoded.slots.map(\.block) == batch.slots.map(\.block))
        #expect(decoded.slots.map(\.offset) == batch.slots.map(\.offset))
        #expect(decoded.logitCount == batch.logitCount)
        #expect(decoded.sequences.map(\.firstPosition) == batch.sequences.map(\.firstPosition))
        #expect(decoded.sequences.map(\.logitRows) == batch.sequences.map(\.logitRows))
        #expect(decoded.sequences.map(\.blockTableRange) == batch.sequences.map(\.blockTableRange))
        #expect(decodedCopies == copies)
        let start = StepMessage.start(blocks: 2184, blockSize: 16, precision: .q8)
        #expect(try StepMessage.decode(start.encoded(), blockSize: 0) == start)
        #expect(try StepMessage.decode(StepMessage.stop.encoded(), blockSize: 16) == .stop)
    }

    @Test("truncated, padded or inconsistent messages are refused")
    func malformed() {
        let words = StepMessage.forward(Self.sampleBatch(blockSize: 16), copies: []).encoded()
        for bad in [Array(words.dropLast()), words + [0], [], [99], [2, 1, 1, 0, 0, 1, 0, 1, 0, 7]] {
            #expect(throws: ParallelError.self) { try StepMessage.decode(bad, blockSize: 16) }
        }
        // A table too short for the positions it claims.
        var short = words
        short[5 + 2] = 0
        #expect(throws: ParallelError.self) { try StepMessage.decode(short, blockSize: 16) }
    }
}
