import CanopyKernels
import CanopyModel
import Testing

/// The Llama forward pass against llama.cpp's outputs on the default model
/// (`Tests/Fixtures/smollm2-greedy`, see its README for provenance and the comparison rule).
@Suite("Llama vs llama.cpp", .serialized)
struct LlamaReferenceTests {
    static let precisions: [MatMulPrecision] = [.quantizedActivations, .float32]

    @Test("configuration decoded from metadata", arguments: [MatMulPrecision.quantizedActivations])
    func configuration(_ precision: MatMulPrecision) throws {
        let config = try SharedModels.model(precision).config
        // Facts from the fixtures' README (read with gguf-py).
        #expect(config.architecture == "llama")
        #expect(config.blockCount == 30)
        #expect(config.embeddingLength == 576)
        #expect(config.headCount == 9)
        #expect(config.headCountKV == 3)
        #expect(config.headDimension == 64)
        #expect(config.feedForwardLength == 1536)
        #expect(config.vocabularySize == 49152)
        #expect(config.ropeFrequencyBase == 100_000)
        #expect(abs(config.rmsNormEpsilon - 1e-5) < 1e-9)
        #expect(config.contextLength == 8192)
    }

    @Test("first-step logits: same top-1, cosine ≥ 0.999", arguments: precisions, [0, 8])
    func firstStepLogits(_ precision: MatMulPrecision, record index: Int) throws {
        let loaded = try SharedModels.model(precision)
        let record = try GreedyRecord.load("smollm2-greedy/greedy.jsonl")[index]
        let reference = try readFloats("smollm2-greedy/logits-\(index).f32")
        let (_, logits) = greedyDecode(loaded, prompt: record.prompt_ids, steps: 1, stopAt: [])
        #expect(logits.count == reference.count)
        let similarity = cosine(logits, reference)
        #expect(argmax(logits, count: logits.count) == argmax(reference, count: reference.count))
        #expect(similarity >= 0.999, "cosine \(similarity)")
        print("[\(precision)] record \(index): cosine \(similarity), max |Δ| \(zip(logits, reference).map { abs($0 - $1) }.max()!)")
    }

    @Test("greedy tokens track llama.cpp", arguments: precisions)
    func greedy(_ precision: MatMulPrecision) throws {
        let loaded = try SharedModels.model(precision)
        let records = try GreedyRecord.load("smollm2-greedy/greedy.jsonl")
        #expect(records.count == 12)
        let endTokens = loaded.tokenizer.endOfGenerationTokens
        var longMatches = 0
        var summary: [Int] = []
        for (i, record) in records.enumerated() {
            let (tokens, _) = greedyDecode(loaded, prompt: record.prompt_ids, steps: record.n_predict, stopAt: endTokens)
            switch record.compare(tokens) {
            case .success(let identical):
                summary.append(identical)
                if identical >= 16 || identical == record.greedy_ids.count { longMatches += 1 }
            case .failure(let failure):
                Issue.record("record \(i): \(failure)")
            }
        }
        print("[\(precision)] identical leading tokens per record: \(summary)")
        #expect(longMatches >= 6, "only \(longMatches) of 12 records kept 16 identical tokens: \(summary)")
    }
}
