import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

/// A trained APAR-style forking `llama` (`Tests/Fixtures/apar-tiny`, see its README) against the
/// independent float64 numpy forward pass of `scripts/make-apar-tiny-model.py`.
///
/// Tolerance: as in `Qwen2MoEReferenceTests`, the weights are F32 and we run `.float32`
/// matmuls with an f32 KV cache, so Canopy differs from float64 only by f32 rounding (a few
/// 1e-6 relative after two layers) on logits of magnitude up to a few tens: far below 1e-3,
/// while a modelling mistake (wrong RoPE pairing, a KV head mapped to the wrong query heads,
/// a missing norm) moves logits by O(0.1–10). The greedy tokens are compared exactly: the
/// script records the smallest top-1/top-2 logit gap over the reference's greedy decisions,
/// which is orders of magnitude above the rounding differences.
@Suite("APAR tiny llama vs numpy reference", .serialized)
struct AparTinyReferenceTests {
    static let tolerance: Float = 1e-3
    static let vocabulary = 260
    static let path = FixturePaths.url("apar-tiny/apar-tiny.gguf").path
    private static let model = Result { () throws(ModelLoadError) in
        try LoadedModel(path: path, precision: .float32)
    }

    struct Child: Decodable {
        let context: [Int32]
        let greedy: [Int32]
    }

    struct Fork: Decodable {
        let prompt: [Int32]
        let prompt_text: String
        let main: [Int32]
        let children: [Child]
        let min_top2_margin: Double
    }

    struct SpecialTokens: Decodable {
        let split_mask: Int32
        let split_sop: Int32
        let eos: Int32
    }

    struct Reference: Decodable {
        let vocab: Int
        let tokens: SpecialTokens
        let sequences: [[Int32]]
        let sequence_texts: [String]
        let fork: Fork
    }

    static func reference() throws -> Reference {
        let data = try Data(contentsOf: FixturePaths.url("apar-tiny/reference.json"))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    /// Reference logits of sequence `index` at `position`.
    static func expected(_ index: Int, position: Int) throws -> ArraySlice<Float> {
        let all = try FixturePaths.readFloats("apar-tiny/logits-\(index).f32")
        return all[(position * vocabulary)..<((position + 1) * vocabulary)]
    }

    /// Greedy tokens after `context` up to and including `stop` (at most `limit`), f32 KV cache.
    static func greedy(_ loaded: LoadedModel, after context: [Int32], stop: Int32, limit: Int = 64) throws -> [Int32] {
        let cache = SingleSequenceCache(config: loaded.config, capacity: context.count + limit, precision: .f32)
        var batch = ForwardBatch()
        cache.append(context, at: 0, to: &batch, wantsLogits: true)
        var logits = try loaded.model.forward(batch, kv: cache.storage)
        var tokens: [Int32] = []
        while tokens.count < limit {
            let token = argmax(logits, count: vocabulary)
            tokens.append(token)
            if token == stop { break }
            var step = ForwardBatch()
            cache.append([token], at: context.count + tokens.count - 1, to: &step, wantsLogits: true)
            logits = try loaded.model.forward(step, kv: cache.storage)
        }
        return tokens
    }

    @Test("configuration and the fork tokens load through LoadedModel")
    func configuration() throws {
        let loaded = try Self.model.get()
        let reference = try Self.reference()
        let config = loaded.config
        #expect(config.architecture == "llama" && loaded.model is LlamaModel)
        #expect(config.vocabularySize == Self.vocabulary && reference.vocab == Self.vocabulary)
        #expect(config.blockCount == 2 && config.embeddingLength == 64 && config.feedForwardLength == 128)
        #expect(config.headCount == 4 && config.headCountKV == 2 && config.headDimension == 16)
        #expect(config.experts == nil)
        let tokenizer = loaded.tokenizer
        let mask = try #require(tokenizer.tokenID(forText: "[SplitMask]"))
        let sop = try #require(tokenizer.tokenID(forText: "[SplitSop]"))
        #expect(mask == reference.tokens.split_mask && sop == reference.tokens.split_sop)
        #expect(tokenizer.tokenType(mask) == .control && tokenizer.tokenType(sop) == .control)
        #expect(tokenizer.eosTokenID == reference.tokens.eos && tokenizer.isEndOfGeneration(reference.tokens.eos))
        #expect(!tokenizer.isEndOfGeneration(mask), "a fork token must not end the parent")
        #expect(tokenizer.encode(reference.fork.prompt_text) == reference.fork.prompt)
        for (text, tokens) in zip(reference.sequence_texts, reference.sequences) {
            #expect(tokenizer.encode(text, parseSpecial: true) == tokens, "\(text)")
            #expect(tokenizer.decode(tokens, renderSpecial: true) == text)
        }
    }

    /// Prefill all but the last three tokens, then decode them one by one: every step's
    /// logits match the reference at that position (prefill and cached-KV paths both).
    @Test("logits match numpy at every step", arguments: [0, 1, 2])
    func stepwise(sequence index: Int) throws {
        let loaded = try Self.model.get()
        let tokens = try Self.reference().sequences[index]
        let prefill = max(1, tokens.count - 3)
        let cache = SingleSequenceCache(config: loaded.config, capacity: tokens.count, precision: .f32)
        var batch = ForwardBatch()
        cache.append(Array(tokens[..<prefill]), at: 0, to: &batch, wantsLogits: true)
        var worst: Float = 0
        var logits = try loaded.model.forward(batch, kv: cache.storage)
        for position in (prefill - 1)..<tokens.count {
            if position >= prefill {
                var step = ForwardBatch()
                cache.append([tokens[position]], at: position, to: &step, wantsLogits: true)
                logits = try loaded.model.forward(step, kv: cache.storage)
            }
            let difference = maxAbsoluteDifference(logits[...], try Self.expected(index, position: position))
            worst = max(worst, difference)
            #expect(difference <= Self.tolerance, "sequence \(index) position \(position): max |Δ| \(difference)")
        }
        print("[apar-tiny] sequence \(index): max |Δ| \(worst)")
    }

    /// APAR decoding at the model level: the main branch's greedy tokens, then each child's
    /// (prompt + parent through its `[SplitMask]` + `[SplitSop]`), alone and as one batch of
    /// siblings, equal the float64 reference's greedy tokens.
    @Test("the main branch forks: greedy writes [SplitMask] and each child writes its item")
    func greedyFork() throws {
        let loaded = try Self.model.get()
        let reference = try Self.reference()
        let fork = reference.fork
        let mask = reference.tokens.split_mask, sop = reference.tokens.split_sop, eos = reference.tokens.eos
        #expect(fork.min_top2_margin > 0.1, "the reference's greedy choices are not clear-cut")
        let main = try Self.greedy(loaded, after: fork.prompt, stop: eos)
        #expect(main.contains(mask), "greedy decoding of the main prompt emits no [SplitMask]")
        #expect(main == fork.main, "main branch: \(loaded.tokenizer.decode(main, renderSpecial: true))")
        // A child's context: prompt + parent tokens through its [SplitMask] + forced [SplitSop].
        let contexts = main.indices.filter { main[$0] == mask }.map { fork.prompt + main[...$0] + [sop] }
        #expect(contexts == fork.children.map(\.context))
        for (context, child) in zip(contexts, fork.children) {
            let detail = try Self.greedy(loaded, after: context, stop: eos)
            #expect(detail == child.greedy, "child: \(loaded.tokenizer.decode(detail, renderSpecial: true))")
        }
        // The siblings decoded together in one batch (each its own blocks) write the same.
        let together = try batchedGreedyDecode(loaded, prompts: contexts, steps: 48, stopAt: [eos])
        #expect(together.tokens == fork.children.map(\.greedy))
    }
}
