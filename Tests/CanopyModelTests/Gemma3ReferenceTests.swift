import CanopyKernels
@testable import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

/// Gemma 3 270M (`gemma3`: q/k norms, post-norms, GELU-gated FFN, scaled embedding, NeoX RoPE
/// at two bases, 512-token sliding windows) against two references in
/// `Tests/Fixtures/gemma3-270m` (see its README): an independent float64 forward pass
/// (`scripts/gemma3-float64-reference.py`), which the exact (f32) path must equal, and
/// llama.cpp, whose own 8-bit activations put it 0.9989-0.9992 (cosine) from the float64
/// logits on records 0 and 2.
@Suite("Gemma 3 against float64 and llama.cpp", .serialized)
struct Gemma3ReferenceTests {
    static func model(_ precision: MatMulPrecision) throws -> LoadedModel {
        guard FileManager.default.fileExists(atPath: FixturePaths.gemma3Model) else {
            throw Missing(description: "Gemma 3 model not found at \(FixturePaths.gemma3Model): run `make model MODEL=gemma3-270m`")
        }
        return try LoadedModel(path: FixturePaths.gemma3Model, precision: precision)
    }

    struct Missing: Error, CustomStringConvertible { let description: String }

    static func firstStep(_ loaded: LoadedModel, record index: Int) throws -> [Float] {
        let records = try GreedyRecord.load("gemma3-270m/greedy.jsonl")
        return try greedyDecode(loaded, prompt: records[index].prompt_ids, steps: 1, stopAt: []).firstLogits
    }

    @Test func configurationIsDecodedFromTheFile() throws {
        let loaded = try Self.model(.quantizedActivations)
        let c = loaded.config
        #expect(c.architecture == "gemma3" && c.blockCount == 18 && c.embeddingLength == 640)
        #expect(c.headCount == 4 && c.headCountKV == 1 && c.headDimension == 256)
        #expect(c.slidingWindow == 512 && c.slidingWindowPattern == nil && c.vocabularySize == 262_144)
        let model = try #require(loaded.model as? Gemma3Model)
        // Every sixth layer (5, 11, 17) attends globally; the others through the window.
        #expect(model.windows.enumerated().filter { $0.element == nil }.map(\.offset) == [5, 11, 17])
        #expect(model.localRope.frequencyBase == 10_000 && model.globalRope.frequencyBase == 1_000_000)
        #expect(model.queryScale == 1)
    }

    /// Record 3 is a 695-token prompt: its logits depend on the sliding windows.
    @Test("the exact path equals the float64 reference", arguments: [0, 3])
    func exactPathEqualsFloat64(record index: Int) throws {
        let ours = try Self.firstStep(Self.model(.float32), record: index)
        let exact = try FixturePaths.readHalfFloats("gemma3-270m/float64-logits-\(index).f16")
        let similarity = cosine(ours, exact)
        #expect(argmax(ours, count: ours.count) == argmax(exact, count: exact.count))
        #expect(similarity >= 0.99999, "record \(index): cosine \(similarity) to the float64 logits")
    }

    /// Without the sliding windows the long record's logits leave the float64 reference:
    /// the window is part of what is checked, not an accident of prompt length.
    @Test func theLongRecordNeedsTheWindow() throws {
        let loaded = try Self.model(.float32)
        let records = try GreedyRecord.load("gemma3-270m/greedy.jsonl")
        let prompt = records[3].prompt_ids
        #expect(prompt.count > 600)
        let model = try #require(loaded.model as? Gemma3Model)
        let cache = SingleSequenceCache(config: loaded.config, capacity: prompt.count, precision: .f16)
        var batch = ForwardBatch()
        cache.append(prompt, at: 0, to: &batch, wantsLogits: true)
        let unwindowed = try model.withoutSlidingWindows().forward(batch, kv: cache.storage)
        let exact = try FixturePaths.readHalfFloats("gemma3-270m/float64-logits-3.f16")
        #expect(cosine(unwindowed, exact) < 0.999)
    }

    /// The integer path against llama.cpp: the same top-1 everywhere; cosine at least 0.997
    /// (each engine's 8-bit activations move it about 0.001 from the exact logits, in
    /// different directions), and at least 0.998 to the float64 logits.
    @Test("the integer path against llama.cpp and float64", arguments: [0, 1, 2, 3])
    func integerPath(record index: Int) throws {
        let ours = try Self.firstStep(Self.model(.quantizedActivations), record: index)
        let theirs = try FixturePaths.readHalfFloats("gemma3-270m/logits-\(index).f16")
        let similarity = cosine(ours, theirs)
        print("gemma3 record \(index): integer path cosine \(similarity) to llama.cpp")
        #expect(argmax(ours, count: ours.count) == argmax(theirs, count: theirs.count))
        #expect(similarity >= 0.997, "record \(index): cosine \(similarity) to llama.cpp")
        if index == 0 || index == 3 {
            let exact = try FixturePaths.readHalfFloats("gemma3-270m/float64-logits-\(index).f16")
            #expect(cosine(ours, exact) >= 0.998)
        }
    }

    /// Greedy runs of the exact path follow llama.cpp's up to its first near tie (the
    /// fixtures' rule) on all 12 records.
    @Test func exactGreedyFollowsLlamaCpp() throws {
        let loaded = try Self.model(.float32)
        let records = try GreedyRecord.load("gemma3-270m/greedy.jsonl")
        var identical: [Int] = []
        for (i, record) in records.enumerated() {
            let (tokens, _) = try greedyDecode(loaded, prompt: record.prompt_ids, steps: record.n_predict, stopAt: [])
            switch record.compare(tokens) {
            case .success(let count): identical.append(count)
            case .failure(let failure): Issue.record("record \(i): \(failure)")
            }
        }
        print("gemma3 exact greedy: identical leading tokens \(identical)")
        #expect(identical.filter { $0 >= 16 }.count >= 6, "\(identical)")
    }
}
