import CanopyKernels
@testable import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

/// The Llama-family architectures (`qwen2`, `qwen3`, Llama 3 with `rope_freqs`, `phi3`)
/// against llama.cpp, on tiny random-weight Q8_0 models made by
/// `scripts/make-family-models.py` (`Tests/Fixtures/families/<family>/`, see each README):
/// on the integer path, llama.cpp's own path for Q8_0 weights, the first-step logits have
/// cosine >= 0.999 with the same top-1, and greedy runs follow llama.cpp's up to its first
/// near tie (the fixtures' rule, with the allowance `FamilyFixtures` explains).
@Suite("Model families against llama.cpp")
struct FamilyReferenceTests {
    static let families = FamilyFixtures.families

    static func load(_ family: String, _ precision: MatMulPrecision = .quantizedActivations) throws -> LoadedModel {
        try LoadedModel(path: FamilyFixtures.path(family), precision: precision)
    }

    /// Each file is bound to the Llama block with its architecture's variant, and the
    /// layout differences each fixture exists for are really in the file.
    @Test(arguments: families)
    func theFileRunsAsItsVariant(family: String) throws {
        let loaded = try Self.load(family)
        let model = try #require(loaded.model as? LlamaModel)
        let c = loaded.config
        let store = WeightStore(file: loaded.file)
        switch family {
        case "llama3":
            #expect(c.architecture == "llama" && model.variant == .llama)
            let factors = try #require(model.rope.frequencyFactors)
            #expect(factors.contains { $0 == 1 } && factors.contains { $0 > 1 }, "\(factors)")
        case "phi3":
            #expect(c.architecture == "phi3" && model.variant == .phi3)
            #expect(store.contains("blk.0.attn_qkv.weight") && !store.contains("blk.0.ffn_gate.weight"))
        case "qwen2":
            #expect(c.architecture == "qwen2" && model.variant == .qwen2)
            #expect(model.blocks.allSatisfy { $0.attention.queryBias != nil && $0.attention.valueBias != nil })
        case "qwen3":
            #expect(c.architecture == "qwen3" && model.variant == .qwen3)
            #expect(c.queryWidth != c.embeddingLength)
            #expect(model.blocks.allSatisfy { $0.attention.queryNorm != nil && $0.attention.keyNorm != nil })
        default:
            Issue.record("no expectations for \(family)")
        }
    }

    @Test(arguments: families)
    func firstStepLogitsMatchLlamaCpp(family: String) throws {
        let loaded = try Self.load(family)
        let records = try GreedyRecord.load("families/\(family)/greedy.jsonl")
        for index in 0..<4 {
            let ours = try greedyDecode(loaded, prompt: records[index].prompt_ids, steps: 1, stopAt: []).firstLogits
            let theirs = try FixturePaths.readHalfFloats("families/\(family)/logits-\(index).f16")
            let similarity = cosine(ours, theirs)
            print("\(family) record \(index): first-step cosine \(similarity) to llama.cpp")
            #expect(argmax(ours, count: ours.count) == argmax(theirs, count: theirs.count), "\(family) record \(index)")
            #expect(similarity >= 0.999, "\(family) record \(index): cosine \(similarity) to llama.cpp")
        }
    }

    /// Greedy runs on the integer path against llama.cpp's, by the fixtures' rule, with the
    /// allowance `FamilyFixtures` explains.
    @Test(arguments: families)
    func greedyRunsFollowLlamaCpp(family: String) throws {
        let loaded = try Self.load(family)
        let records = try GreedyRecord.load("families/\(family)/greedy.jsonl")
        let ends = Set(loaded.tokenizer.endOfGenerationTokens)
        var outside: [String] = []
        for (i, record) in records.enumerated() {
            let (tokens, _) = try greedyDecode(loaded, prompt: record.prompt_ids, steps: record.n_predict, stopAt: ends)
            if case .failure(let failure) = record.compare(tokens) { outside.append("record \(i): \(failure)") }
            if let gap = record.gapAtDivergence(tokens) {
                #expect(gap <= FamilyFixtures.largestGap, "\(family) record \(i): parts from llama.cpp \(gap) below its top-1")
            }
        }
        print("\(family) greedy: \(outside.count) of \(records.count) records part from llama.cpp past the 0.25 rule: \(outside)")
        #expect(outside.count <= FamilyFixtures.strictFailures[family, default: 0], "\(family): \(outside)")
    }
}
