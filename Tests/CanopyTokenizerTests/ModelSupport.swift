import CanopyGGUF
import CanopyTokenizer
import Foundation

/// Loads the default model's tokenizer once for all tests, from
/// `<repo>/models/SmolLM2-135M-Instruct.Q4_1.gguf` (or `$CANOPY_MODEL`).
enum SmolLM2 {
    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    static let modelPath: String = {
        if let path = ProcessInfo.processInfo.environment["CANOPY_MODEL"], !path.isEmpty { return path }
        return Fixtures.testsDirectory.deletingLastPathComponent()
            .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    }()

    private static let loaded: Result<(TokenizerVocabulary, Tokenizer), LoadError> = {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            return .failure(LoadError(description:
                "model file not found at \(modelPath): run `make model` or set CANOPY_MODEL"))
        }
        do {
            let file = try GGUFFile(path: modelPath)
            let vocabulary = try TokenizerVocabulary(gguf: file)
            return .success((vocabulary, try Tokenizer(vocabulary: vocabulary)))
        } catch {
            return .failure(LoadError(description: "cannot load tokenizer from \(modelPath): \(error)"))
        }
    }()

    /// The model's vocabulary as read from the GGUF file.
    static func vocabulary() throws -> TokenizerVocabulary { try loaded.get().0 }

    /// The model's tokenizer; throws (failing the test) when the model is missing.
    static func tokenizer() throws -> Tokenizer { try loaded.get().1 }
}
