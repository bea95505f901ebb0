import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Testing

/// The Mixtral-style `moe-tiny` model (llama architecture with 4 experts, top-2) against
/// llama.cpp (`Tests/Fixtures/moe-tiny`, see its README), with `.quantizedActivations`: the
/// fast path, which quantizes activations as llama.cpp's CPU backend does.
@Suite("Mixtral-style MoE vs llama.cpp", .serialized)
struct MoEReferenceTests {
    @Test("expert metadata decoded")
    func configuration() throws {
        let config = try MoEModels.moeTinyModel().config
        // Facts from the fixture's README.
        #expect(config.architecture == "llama")
        #expect(config.blockCount == 3)
        #expect(config.embeddingLength == 128)
        #expect(config.headCount == 4 && config.headCountKV == 2 && config.headDimension == 32)
        let experts = try #require(config.experts)
        #expect(experts.count == 4)
        #expect(experts.usedCount == 2)
        #expect(experts.feedForwardLength == 256)
        #expect(experts.normalizesWeights, "Mixtral renormalises the top-k weights")
        #expect(experts.gating == .softmax)
        #expect(experts.weightsScale == 1)
    }

    @Test("first-step logits: cosine ≥ 0.999, same top-1", arguments: [0, 1])
    func firstStepLogits(record index: Int) throws {
        let loaded = try MoEModels.moeTinyModel()
        let record = try GreedyRecord.load("moe-tiny/greedy.jsonl")[index]
        let reference = try FixturePaths.readFloats("moe-tiny/logits-\(index).f32")
        let (_, logits) = try greedyDecode(loaded, prompt: record.prompt_ids, steps: 1, stopAt: [])
        try #require(logits.count == reference.count)
        let similarity = cosine(logits, reference)
        #expect(similarity >= 0.999, "cosine \(similarity)")
        let ours = argmax(logits, count: logits.count)
        let theirs = argmax(reference, count: reference.count)
        // Record 1's first step is a near tie in llama.cpp (top-2 margin 0.21): the rule of the
        // fixture asks for the same top-1 only where the margin exceeds 0.25.
        if record.decisiveSteps() > 0 {
            #expect(ours == theirs)
        }
        print("[moe-tiny] record \(index): cosine \(similarity), max |Δ| \(maxAbsoluteDifference(logits[...], reference[...])), top-1 \(ours) vs \(theirs)")
    }

    @Test("greedy tokens equal llama.cpp's until its first near tie")
    func greedy() throws {
        let loaded = try MoEModels.moeTinyModel()
        let records = try GreedyRecord.load("moe-tiny/greedy.jsonl")
        try #require(records.count == 4)
        var compared: [Int] = []
        for (i, record) in records.enumerated() {
            let decisive = record.decisiveSteps()
            let (tokens, _) = try greedyDecode(loaded, prompt: record.prompt_ids, steps: record.n_predict, stopAt: loaded.tokenizer.endOfGenerationTokens)
            #expect(Array(tokens.prefix(decisive)) == Array(record.greedy_ids.prefix(decisive)), "record \(i): \(tokens) vs \(record.greedy_ids)")
            compared.append(decisive)
        }
        // Record 0 has 13 decisive steps and record 3 has 2: the comparison is not vacuous.
        #expect(compared.reduce(0, +) >= 15, "decisive steps per record: \(compared)")
    }

    /// All four prompts (9, 7, 100 and 1 tokens) in one batch, prefill and decode: the same
    /// tokens and bit-identical first-step logits as each prompt alone, and llama.cpp's tokens
    /// until its first near tie.
    @Test("batched prompts match single runs and llama.cpp")
    func batched() throws {
        let loaded = try MoEModels.moeTinyModel()
        let records = try GreedyRecord.load("moe-tiny/greedy.jsonl")
        let endTokens = loaded.tokenizer.endOfGenerationTokens
        let steps = records.map(\.n_predict).max()!
        let (batchedTokens, batchedFirst) = try batchedGreedyDecode(
            loaded, prompts: records.map(\.prompt_ids), steps: steps, stopAt: endTokens)
        for (i, record) in records.enumerated() {
            let (alone, aloneFirst) = try greedyDecode(loaded, prompt: record.prompt_ids, steps: steps, stopAt: endTokens)
            #expect(batchedTokens[i] == alone, "record \(i) differs when batched")
            #expect(batchedFirst[i] == aloneFirst, "record \(i): first-step logits differ when batched")
            let decisive = record.decisiveSteps()
            #expect(Array(batchedTokens[i].prefix(decisive)) == Array(record.greedy_ids.prefix(decisive)))
        }
        for index in [0, 1] {
            let similarity = cosine(batchedFirst[index], try FixturePaths.readFloats("moe-tiny/logits-\(index).f32"))
            #expect(similarity >= 0.999, "record \(index) batched: cosine \(similarity)")
        }
    }

    /// The float32 path (dequantized weights, f32 activations) stays close to llama.cpp too.
    @Test("float32 precision: cosine ≥ 0.999")
    func float32Logits() throws {
        let loaded = try LoadedModel(path: MoEModels.moeTinyPath, precision: .float32)
        let record = try GreedyRecord.load("moe-tiny/greedy.jsonl")[0]
        let (_, logits) = try greedyDecode(loaded, prompt: record.prompt_ids, steps: 1, stopAt: [])
        let similarity = cosine(logits, try FixturePaths.readFloats("moe-tiny/logits-0.f32"))
        #expect(similarity >= 0.999, "cosine \(similarity)")
    }
}
