import CanopyKernels
import CanopyModel
import CanopyTestFixtures
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

    /// Passes when the logits match either machine's llama.cpp logits (see
    /// `LlamaCppReference`): llama.cpp's own logits move between instruction sets.
    @Test("first-step logits: same top-1, cosine ≥ 0.999 against a llama.cpp reference", arguments: precisions, [0, 8])
    func firstStepLogits(_ precision: MatMulPrecision, record index: Int) throws {
        let loaded = try SharedModels.model(precision)
        let reference = try LlamaCppReference.load()
        let (_, logits) = try greedyDecode(loaded, prompt: reference[index].prompt_ids, steps: 1, stopAt: [])
        var verdicts: [String] = []
        var matched = false
        for (machine, theirs) in try reference.firstStepLogits(record: index) {
            #expect(logits.count == theirs.count)
            let similarity = cosine(logits, theirs)
            let sameTop = argmax(logits, count: logits.count) == argmax(theirs, count: theirs.count)
            let maxDifference = zip(logits, theirs).map { abs($0 - $1) }.max()!
            verdicts.append("\(machine): cosine \(similarity), same top-1 \(sameTop), max |Δ| \(maxDifference)")
            if sameTop && similarity >= 0.999 { matched = true }
        }
        print("[\(precision)] record \(index): " + verdicts.joined(separator: "; "))
        #expect(matched, "record \(index) matches no llama.cpp reference: \(verdicts)")
    }

    @Test("greedy tokens track llama.cpp", arguments: precisions)
    func greedy(_ precision: MatMulPrecision) throws {
        let loaded = try SharedModels.model(precision)
        let reference = try LlamaCppReference.load()
        #expect(reference.count == 12)
        let endTokens = loaded.tokenizer.endOfGenerationTokens
        var longMatches = 0
        var summary: [Int] = []
        for i in 0..<reference.count {
            let record = reference[i]
            let (tokens, _) = try greedyDecode(loaded, prompt: record.prompt_ids, steps: record.n_predict, stopAt: endTokens)
            switch reference.judge(tokens, record: i) {
            case .success(let verdict):
                summary.append(verdict.identical)
                if verdict.identical >= 16 || verdict.identical == tokens.count { longMatches += 1 }
            case .failure(let failure):
                Issue.record("record \(i): \(failure)")
            }
        }
        print("[\(precision)] identical leading tokens per record: \(summary)")
        #expect(longMatches >= 6, "only \(longMatches) of 12 records kept 16 identical tokens: \(summary)")
    }
}
