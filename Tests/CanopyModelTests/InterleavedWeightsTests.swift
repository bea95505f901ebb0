import CCanopyKernels
import CanopyGGUF
import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Testing

/// The interleaved copies `WeightStore` makes of Q4_1 and Q8_0 matrices: they hold the file's blocks,
/// one per tensor, counted in the resident bytes, and only where asked. (That a model computes
/// the same bits with them as without is `WeightResidencyTests.bitIdentical`: a streamed
/// model reads the file's rows.)
@Suite("Interleaved Q4_1 and Q8_0 weights in the store", .serialized)
struct InterleavedWeightsTests {
    @Test("a store that interleaves hands out copies holding the file's blocks, one per tensor")
    func copies() throws {
        let loaded = try LoadedModel(path: FixturePaths.defaultModel)
        let file = loaded.file
        let info = try #require(file.tensor(named: "blk.0.attn_q.weight"))
        try #require(info.type == .q4_1, "the default model is Q4_1")
        let (cols, rows) = (info.dimensions[0], info.dimensions[1])
        let store = WeightStore(file: file, interleavesWeights: true)
        let q = try store.matrix("blk.0.attn_q.weight", rows: rows, cols: cols)
        let packed = try #require(q.interleaved)
        #expect(store.interleavedBytes == info.byteCount)
        var block = [UInt8](repeating: 0, count: 20)
        for r in [0, 1, 7, 8, rows - 1] {
            for b in [0, cols / 32 - 1] {
                canopy_q4_1_interleaved_block(packed, Int64(cols), Int64(r), Int64(b), &block)
                let original = Array(UnsafeRawBufferPointer(start: q.row(r) + 20 * b, count: 20))
                #expect(block == original, "row \(r) block \(b)")
            }
        }
        // Asked again (a tied output and embedding ask twice): the same copy.
        let again = try store.matrix("blk.0.attn_q.weight", rows: rows, cols: cols)
        #expect(again.interleaved == packed && store.interleavedBytes == info.byteCount)
        // The tied output matrix is Q8_0: 16 rows side by side.
        let tied = try #require(file.tensor(named: "token_embd.weight"))
        try #require(tied.type == .q8_0, "the default model's tied output matrix is Q8_0")
        let (e, vocabulary) = (tied.dimensions[0], tied.dimensions[1])
        let output = try store.matrix("token_embd.weight", rows: vocabulary, cols: e)
        let packedOutput = try #require(output.interleaved)
        #expect(store.interleavedBytes == info.byteCount + tied.byteCount)
        var wide = [UInt8](repeating: 0, count: 34)
        for r in [0, 15, 16, 17, vocabulary - 1] {
            for b in [0, e / 32 - 1] {
                canopy_q8_0_interleaved_block(packedOutput, Int64(e), Int64(r), Int64(b), &wide)
                let original = Array(UnsafeRawBufferPointer(start: output.row(r) + 34 * b, count: 34))
                #expect(wide == original, "output row \(r) block \(b)")
            }
        }
        let plain = try WeightStore(file: file).matrix("blk.0.attn_q.weight", rows: rows, cols: cols)
        #expect(plain.interleaved == nil)
    }

    @Test("a loaded model interleaves every Q4_1 matrix of whole 8-row groups, every Q8_0 one of 16, and counts the copies")
    func residentBytes() throws {
        let loaded = try LoadedModel(path: FixturePaths.defaultModel)
        let tensors = loaded.file.tensors
        let fileBytes = tensors.reduce(0) { $0 + $1.byteCount }
        let interleaved = tensors.filter { t in
            t.dimensions.count == 2 && (t.type == .q4_1 && t.dimensions[1] % 8 == 0 || t.type == .q8_0 && t.dimensions[1] % 16 == 0)
        }
        let copies = interleaved.reduce(0) { $0 + $1.byteCount }
        #expect(interleaved.contains { $0.type == .q4_1 } && interleaved.contains { $0.type == .q8_0 })
        #expect(loaded.residentWeightBytes == fileBytes + copies && loaded.interleavedWeightBytes == copies)
        // Under a weight memory budget nothing is copied, whether layers stream or the whole
        // file fits: the budget holds.
        for budget in [fileBytes / 2, 4 * fileBytes] {
            let capped = try LoadedModel(path: FixturePaths.defaultModel, weightMemoryBytes: budget)
            #expect(capped.residentWeightBytes == fileBytes && capped.interleavedWeightBytes == 0, "budget \(budget)")
        }
    }
}
