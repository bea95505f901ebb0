import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

/// The `qwen2moe` architecture against the independent float64 numpy forward pass of
/// `scripts/make-qwen2moe-model.py` (`Tests/Fixtures/qwen2moe-tiny`, see its README).
///
/// Tolerance: the model's weights are F32 and we run `.float32` matmuls with an f32 KV cache,
/// so the only differences are f32 rounding against float64 (relative ~1e-7 per operation,
/// a few 1e-6 after two layers, attention and the output projection). On logits of magnitude
/// up to ~20 (std ~4) that is far below 1e-3, while any modelling mistake (a missing bias,
/// the wrong RoPE pairing, renormalised or mis-selected experts, an ungated shared expert)
/// moves logits by O(0.1–1). The script only accepts weights whose routing decisions are
/// clear by at least 1e-3 in probability, so rounding cannot flip a selection.
@Suite("Qwen2-MoE vs numpy reference", .serialized)
struct Qwen2MoEReferenceTests {
    static let tolerance: Float = 1e-3
    static let vocabulary = 260

    struct Reference: Decodable {
        let prompts: [[Int32]]
        let vocab: Int
    }

    static func reference() throws -> Reference {
        let data = try Data(contentsOf: FixturePaths.url("qwen2moe-tiny/reference.json"))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    /// Reference logits of prompt `index` at `position`.
    static func expected(_ index: Int, position: Int) throws -> ArraySlice<Float> {
        let all = try FixturePaths.readFloats("qwen2moe-tiny/logits-\(index).f32")
        return all[(position * vocabulary)..<((position + 1) * vocabulary)]
    }

    @Test("configuration and tokenizer load through LoadedModel")
    func configuration() throws {
        let loaded = try MoEModels.qwenTinyModel()
        let config = loaded.config
        #expect(config.architecture == "qwen2moe")
        #expect(config.vocabularySize == Self.vocabulary)
        #expect(config.blockCount == 2 && config.embeddingLength == 64)
        #expect(config.headCount == 4 && config.headCountKV == 2 && config.headDimension == 16)
        let experts = try #require(config.experts)
        #expect(experts.count == 4 && experts.usedCount == 2)
        #expect(experts.feedForwardLength == 32)
        #expect(experts.sharedFeedForwardLength == 48)
        #expect(!experts.normalizesWeights, "Qwen2-MoE does not renormalise unless the file says so")
        #expect((loaded.model as? LlamaModel)?.variant == .qwen2MoE)
        let expected: [Int32] = try Self.reference().prompts[0]
        let encoded: [Int32] = loaded.tokenizer.encode("hello world").map { Int32($0) }
        #expect(encoded == expected)
    }

    /// Prefill all but the last three tokens, then decode them one by one: every step's
    /// logits match the reference at that position (prefill and cached-KV paths both).
    @Test("logits match numpy at every step", arguments: [0, 1, 2])
    func stepwise(prompt index: Int) throws {
        let loaded = try MoEModels.qwenTinyModel()
        let prompt = try Self.reference().prompts[index]
        let prefill = max(1, prompt.count - 3)
        let cache = SingleSequenceCache(config: loaded.config, capacity: prompt.count, precision: .f32)
        var batch = ForwardBatch()
        cache.append(Array(prompt[..<prefill]), at: 0, to: &batch, wantsLogits: true)
        var worst: Float = 0
        var logits = try loaded.model.forward(batch, kv: cache.storage)
        for position in (prefill - 1)..<prompt.count {
            if position >= prefill {
                var step = ForwardBatch()
                cache.append([prompt[position]], at: position, to: &step, wantsLogits: true)
                logits = try loaded.model.forward(step, kv: cache.storage)
            }
            let difference = maxAbsoluteDifference(logits[...], try Self.expected(index, position: position))
            worst = max(worst, difference)
            #expect(difference <= Self.tolerance, "prompt \(index) position \(position): max |Δ| \(difference)")
        }
        print("[qwen2moe-tiny] prompt \(index): max |Δ| \(worst)")
    }

    /// The three prompts in one batch give bit-identical logits to each prompt alone.
    @Test("batched prompts match single runs and numpy")
    func batched() throws {
        let loaded = try MoEModels.qwenTinyModel()
        let prompts = try Self.reference().prompts
        let arena = SharedArena(config: loaded.config, capacities: prompts.map(\.count), precision: .f32)
        var batch = ForwardBatch()
        for (i, prompt) in prompts.enumerated() {
            arena.append(prompt, sequence: i, at: 0, to: &batch, wantsLogits: true)
        }
        let together = try loaded.model.forward(batch, kv: arena.storage)
        for (i, prompt) in prompts.enumerated() {
            let row = together[(i * Self.vocabulary)..<((i + 1) * Self.vocabulary)]
            let cache = SingleSequenceCache(config: loaded.config, capacity: prompt.count, precision: .f32)
            var alone = ForwardBatch()
            cache.append(prompt, at: 0, to: &alone, wantsLogits: true)
            try #expect(Array(row) == loaded.model.forward(alone, kv: cache.storage), "prompt \(i) differs when batched")
            let difference = maxAbsoluteDifference(row, try Self.expected(i, position: prompt.count - 1))
            #expect(difference <= Self.tolerance, "prompt \(i): max |Δ| \(difference)")
        }
    }

    /// Every token is routed to exactly `usedCount` experts in every layer.
    @Test("expert load counters count every routed token")
    func loadCounters() throws {
        let loaded = try MoEModels.qwenTinyModel()
        let counters = try #require(loaded.expertLoad)
        #expect(counters.snapshot() == [[0, 0, 0, 0], [0, 0, 0, 0]])
        let prompts = try Self.reference().prompts
        let arena = SharedArena(config: loaded.config, capacities: prompts.map(\.count), precision: .f32)
        var batch = ForwardBatch()
        for (i, prompt) in prompts.enumerated() {
            arena.append(prompt, sequence: i, at: 0, to: &batch, wantsLogits: true)
        }
        _ = try loaded.model.forward(batch, kv: arena.storage)
        let tokens = prompts.map(\.count).reduce(0, +)
        let load = counters.snapshot()
        #expect(load.map { $0.reduce(0, +) } == [2 * tokens, 2 * tokens], "\(load)")
        #expect(load.allSatisfy { $0.allSatisfy { $0 <= tokens } }, "an expert counted a token twice: \(load)")
        counters.reset()
        #expect(counters.snapshot() == [[0, 0, 0, 0], [0, 0, 0, 0]])
    }
}
