import CanopyKernels
import Testing
import CanopyGGUF

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens the real default model and checks facts about it.
///
/// Every expected value here was read from the same file with gguf-py 0.19.0
/// (`gguf.GGUFReader`), not from this reader's output.
@Suite("Default model")
struct GGUFModelTests {
    @Test("header facts match gguf-py")
    func headerFacts() throws {
        guard let path = TestSupport.requireModel() else { return }
        let file = try GGUFFile(path: path)
        #expect(file.version == 3)
        #expect(file.alignment == 32)
        #expect(file.metadata.count == 33)
        #expect(file.metadataKeys.count == 33)
        #expect(file.metadataKeys.first == "general.architecture")
        #expect(file.metadataKeys.last == "general.quantization_version")
        #expect(file.metadataKeys[24] == "tokenizer.ggml.tokens")
        #expect(file.tensors.count == 272)
        #expect(file.dataOffset == 1_785_664)
        #expect(file.fileSize == 98_362_432)
        #expect(file.string("general.architecture") == "llama")
        #expect(file.string("tokenizer.ggml.model") == "gpt2")
        #expect(file.string("tokenizer.ggml.pre") == "smollm")
        #expect(file.int("llama.block_count") == 30)
        #expect(file.int("llama.context_length") == 8192)
        #expect(file.int("llama.embedding_length") == 576)
        #expect(file.int("llama.attention.head_count_kv") == 3)
        #expect(file.int("general.file_type") == 3)
        #expect(file.int("tokenizer.ggml.bos_token_id") == 1)
        #expect(file.int("tokenizer.ggml.eos_token_id") == 2)
        #expect(file.float("llama.rope.freq_base") == 100_000)
        #expect(file.metadata["llama.attention.layer_norm_rms_epsilon"] == .float32(9.999999747378752e-06))
        #expect(file.bool("tokenizer.ggml.add_bos_token") == false)
        #expect(file.stringArray("general.languages") == ["en"])
        #expect(file.string("tokenizer.chat_template")?.hasPrefix("{% for message in messages %}") == true)
        // Helpers answer nil for the wrong kind instead of converting.
        #expect(file.int("general.architecture") == nil)
        #expect(file.string("llama.block_count") == nil)
        #expect(file.bool("no.such.key") == nil)
    }

    @Test("vocabulary and merges are preserved byte for byte")
    func vocabulary() throws {
        guard let path = TestSupport.requireModel() else { return }
        let file = try GGUFFile(path: path)
        let tokens = try #require(file.stringArray("tokenizer.ggml.tokens"))
        #expect(tokens.count == 49152)
        #expect(tokens.prefix(3) == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        #expect(tokens.last == "ectable")
        #expect(Array(tokens[111].utf8) == [0xC2, 0xA1])
        // Total UTF-8 length over all tokens, from gguf-py's raw bytes: any replacement
        // character or normalization would change it.
        #expect(tokens.reduce(0) { $0 + $1.utf8.count } == 369_170)
        let merges = try #require(file.stringArray("tokenizer.ggml.merges"))
        #expect(merges.count == 48900)
        #expect(merges.prefix(3) == ["Ġ t", "Ġ a", "i n"])
        #expect(merges.reduce(0) { $0 + $1.utf8.count } == 417_477)
        let types = try #require(file.intArray("tokenizer.ggml.token_type"))
        #expect(types.count == 49152)
        #expect(types.prefix(17).allSatisfy { $0 == 3 })
        #expect(types.reduce(0, +) == 49186)
    }

    @Test("tensor table and data match gguf-py")
    func tensors() throws {
        guard let path = TestSupport.requireModel() else { return }
        let file = try GGUFFile(path: path)
        let embedding = try #require(file.tensor(named: "token_embd.weight"))
        #expect(embedding.type == .q8_0)
        #expect(embedding.dimensions == [576, 49152])
        #expect(embedding.offset == 0)
        #expect(embedding.byteCount == 576 / 32 * 34 * 49152)
        #expect(file.tensors.first == embedding)
        #expect(file.tensors.last?.name == "output_norm.weight")
        #expect(file.tensor(named: "output.weight") == nil)
        #expect(file.tensor(named: "blk.0.ffn_down.weight")?.dimensions == [1536, 576])
        #expect(file.tensor(named: "blk.29.attn_q.weight")?.type == .q4_1)
        var counts: [GGMLType: Int] = [:]
        for tensor in file.tensors { counts[tensor.type, default: 0] += 1 }
        #expect(counts == [.q4_1: 210, .f32: 61, .q8_0: 1])

        let norm = try #require(file.tensor(named: "blk.0.attn_norm.weight"))
        #expect(file.dataOffset + norm.offset == 31_866_688)
        let data = file.data(of: norm)
        #expect(data.count == 2304)
        let values = (0..<4).map { data.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        #expect(values == [0.01397705078125, 0.0238037109375, -0.019775390625, -0.0302734375])
        let last = try #require(file.tensors.last)
        #expect(file.dataOffset + last.offset + last.byteCount == file.fileSize)
    }

    @Test("opening the model is fast")
    func openingIsFast() throws {
        guard let path = TestSupport.requireModel() else { return }
        var start = timespec()
        var end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        let file = try GGUFFile(path: path)
        clock_gettime(CLOCK_MONOTONIC, &end)
        let seconds = Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
        #expect(file.tensors.count == 272)
        #if !DEBUG
        // Measured around 0.03 s; the margin absorbs a loaded shared machine.
        #expect(seconds < 1.0, "opening took \(seconds) s")
        #endif
    }
}
