import CanopyEngine
import CanopyGGUF
import CanopyModel
import CanopyTokenizer
import Foundation

/// The real models the targets tokenize and validate with, loaded once per process:
/// `CANOPY_FUZZ_MODEL` (default: SmolLM2, byte-level BPE) and `CANOPY_FUZZ_GEMMA3_MODEL`
/// (default: Gemma 3 270M, SentencePiece), as `make model gemma3-model` put them.
enum FuzzResources {
    static let modelPath = environment("CANOPY_FUZZ_MODEL", default: "models/SmolLM2-135M-Instruct.Q4_1.gguf")
    static let gemma3Path = environment("CANOPY_FUZZ_GEMMA3_MODEL", default: "models/gemma-3-270m-q4_k_m.gguf")

    /// The default model, weights included (request validation needs its configuration).
    static let model: LoadedModel = load { try LoadedModel(path: modelPath) }

    /// Sampling defaults of the default model, as the daemon reads them.
    static let samplingDefaults = SamplingDefaults(file: model.file)

    /// The request validator the daemon builds for the default model, with a cache of 4096
    /// token positions.
    static let preparer = PromptPreparer(loaded: model, defaultMaxTokens: nil, cacheCapacity: 4096)

    /// Both tokenizers: BPE (SmolLM2) first, SentencePiece (Gemma 3) second.
    static let tokenizers: [Tokenizer] = [
        model.tokenizer,
        load { try Tokenizer(vocabulary: TokenizerVocabulary(gguf: GGUFFile(path: gemma3Path))) },
    ]

    /// A file of this process's own for inputs that must be read from a path.
    static let scratchFile = "\(NSTemporaryDirectory())canopy-fuzz-\(getpid()).gguf"

    private static func environment(_ key: String, default value: String) -> String {
        ProcessInfo.processInfo.environment[key] ?? value
    }

    private static func load<T>(_ make: () throws -> T) -> T {
        do {
            return try make()
        } catch {
            FileHandle.standardError.write(Data("canopy-fuzz: cannot load a model (make model gemma3-model): \(error)\n".utf8))
            exit(2)
        }
    }
}
