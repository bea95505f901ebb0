import CanopyEngine
import CanopyGGUF
import CanopyKernels
import CanopyModel
import Foundation

/// A tiny random Llama model written with `GGUFWriter`: fast enough for workloads of
/// thousands of engine operations. Its tokenizer is byte-level (the 256 GPT-2 byte symbols,
/// one merge `Ġt`) plus `<|im_end|>` as end of generation.
enum TinyModel {
    static let vocabulary = 258
    static let endOfGeneration: Int32 = 257

    /// GPT-2's printable stand-in for each byte.
    static func byteSymbols() -> [String] {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var codes = printable
        var next = 256
        for byte in 0..<256 where !printable.contains(byte) {
            printable.append(byte)
            codes.append(next)
            next += 1
        }
        var symbols = [String](repeating: "", count: 256)
        for (byte, code) in zip(printable, codes) {
            symbols[byte] = String(Character(Unicode.Scalar(UInt32(code))!))
        }
        return symbols
    }

    /// Writes the model to a temporary file and loads it. `noise` adds that much uniform
    /// noise (from another stream) to every weight of the `seed` model: a draft model that
    /// mostly agrees with it. `renaming` changes a token's text (a vocabulary that differs).
    static func load(seed: UInt64 = 1, noise: Float = 0, renaming: (id: Int, text: String)? = nil) throws -> LoadedModel {
        let embedding = 32, layers = 2, heads = 4, kvHeads = 2, ffn = 64
        let headDim = embedding / heads
        var writer = GGUFWriter()
        writer.add("general.architecture", .string("llama"))
        writer.add("llama.block_count", .uint32(UInt32(layers)))
        writer.add("llama.context_length", .uint32(256))
        writer.add("llama.embedding_length", .uint32(UInt32(embedding)))
        writer.add("llama.feed_forward_length", .uint32(UInt32(ffn)))
        writer.add("llama.attention.head_count", .uint32(UInt32(heads)))
        writer.add("llama.attention.head_count_kv", .uint32(UInt32(kvHeads)))
        writer.add("llama.rope.freq_base", .float32(10_000))
        writer.add("llama.attention.layer_norm_rms_epsilon", .float32(1e-5))
        writer.add("tokenizer.ggml.model", .string("gpt2"))
        writer.add("tokenizer.ggml.pre", .string("gpt2"))
        var tokens = byteSymbols() + ["Ġt", "<|im_end|>"]
        if let renaming { tokens[renaming.id] = renaming.text }
        writer.add("tokenizer.ggml.tokens", .array(tokens.map { .string($0) }))
        writer.add("tokenizer.ggml.token_type", .array(tokens.indices.map { .int32($0 == 257 ? 3 : 1) }))
        writer.add("tokenizer.ggml.merges", .array([.string("Ġ t")]))
        writer.add("tokenizer.ggml.eos_token_id", .uint32(UInt32(endOfGeneration)))

        var random = RandomStream(seed: seed)
        var perturbation = RandomStream(seed: seed &+ 0x5EED)
        func weights(_ count: Int, scale: Float) -> [Float] {
            (0..<count).map { _ in
                (random.nextUnitFloat() * 2 - 1) * scale + (perturbation.nextUnitFloat() * 2 - 1) * noise
            }
        }
        let kvWidth = kvHeads * headDim
        writer.addTensor(name: "token_embd.weight", dimensions: [embedding, vocabulary], floats: weights(embedding * vocabulary, scale: 1))
        for layer in 0..<layers {
            let p = "blk.\(layer)."
            writer.addTensor(name: p + "attn_norm.weight", dimensions: [embedding], floats: weights(embedding, scale: 0.2).map { $0 + 1 })
            writer.addTensor(name: p + "attn_q.weight", dimensions: [embedding, embedding], floats: weights(embedding * embedding, scale: 0.3))
            writer.addTensor(name: p + "attn_k.weight", dimensions: [embedding, kvWidth], floats: weights(embedding * kvWidth, scale: 0.3))
            writer.addTensor(name: p + "attn_v.weight", dimensions: [embedding, kvWidth], floats: weights(embedding * kvWidth, scale: 0.3))
            writer.addTensor(name: p + "attn_output.weight", dimensions: [embedding, embedding], floats: weights(embedding * embedding, scale: 0.3))
            writer.addTensor(name: p + "ffn_norm.weight", dimensions: [embedding], floats: weights(embedding, scale: 0.2).map { $0 + 1 })
            writer.addTensor(name: p + "ffn_gate.weight", dimensions: [embedding, ffn], floats: weights(embedding * ffn, scale: 0.3))
            writer.addTensor(name: p + "ffn_up.weight", dimensions: [embedding, ffn], floats: weights(embedding * ffn, scale: 0.3))
            writer.addTensor(name: p + "ffn_down.weight", dimensions: [ffn, embedding], floats: weights(ffn * embedding, scale: 0.3))
        }
        writer.addTensor(name: "output_norm.weight", dimensions: [embedding], floats: weights(embedding, scale: 0.2).map { $0 + 1 })
        // A name of its own per call: tests running at once load the same tiny model, and
        // each removes its file once loaded (a shared name let one load find it gone).
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("canopy-tiny-\(UUID().uuidString).gguf").path
        try writer.write(to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        // The mapping stays valid after the file is unlinked.
        return try LoadedModel(path: path)
    }
}
