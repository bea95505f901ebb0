import CanopyGGUF
@testable import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

/// The architecture table: what `general.architecture` values load, and the error a user
/// gets for one that does not.
@Suite("Architecture registry")
struct ModelArchitecturesTests {
    @Test func theSupportedArchitecturesAreListedSorted() {
        #expect(ModelArchitectures.supported == ["gemma3", "llama", "phi3", "qwen2", "qwen2moe", "qwen3"])
    }

    /// A file whose hyperparameters decode but whose architecture is not in the table fails
    /// with a message naming it and listing what is supported.
    @Test func anUnsupportedArchitectureNamesTheSupportedOnes() throws {
        var writer = GGUFWriter()
        writer.add("general.architecture", .string("mamba"))
        for (key, value) in [("block_count", 1), ("context_length", 64), ("embedding_length", 32),
                             ("feed_forward_length", 64), ("attention.head_count", 4), ("vocab_size", 8)] {
            writer.add("mamba.\(key)", .uint32(UInt32(value)))
        }
        writer.add("mamba.attention.layer_norm_rms_epsilon", .float32(1e-5))
        writer.addTensor(name: "token_embd.weight", dimensions: [32, 8], floats: [Float](repeating: 0, count: 256))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("canopy-mamba-\(getpid()).gguf").path
        try writer.write(to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try LoadedModel(path: path)
            Issue.record("a mamba file loaded")
        } catch {
            guard case .model(_, let reason) = error else { Issue.record("wrong error: \(error)"); return }
            #expect(reason == .unsupportedArchitecture("mamba"))
            #expect(error.description.hasSuffix(
                "architecture 'mamba' is not supported (supported: gemma3, llama, phi3, qwen2, qwen2moe, qwen3)"))
        }
    }
}
