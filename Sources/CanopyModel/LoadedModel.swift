import CanopyGGUF
import CanopyKernels
import CanopyTokenizer

/// Why a model could not be opened, wrapping the layer that failed.
public enum ModelLoadError: Error, CustomStringConvertible {
    /// The file is not a readable GGUF file.
    case file(path: String, GGUFError)
    /// The GGUF file does not describe a model Canopy can run.
    case model(path: String, ModelError)
    /// The tokenizer stored in the file cannot be built.
    case tokenizer(path: String, TokenizerError)

    public var description: String {
        switch self {
        case .file(let path, let error): return "cannot read model file \(path): \(error)"
        case .model(let path, let error): return "cannot use model \(path): \(error)"
        case .tokenizer(let path, let error): return "cannot build the tokenizer of \(path): \(error)"
        }
    }
}

/// Everything one model file provides: configuration, weights bound to an architecture,
/// tokenizer and chat template.
public final class LoadedModel: Sendable {
    /// The opened file.
    public let file: GGUFFile
    /// Hyperparameters decoded from the file.
    public let config: ModelConfig
    /// The architecture with its weights bound.
    public let model: any CausalLanguageModel
    /// The tokenizer built from the file's vocabulary.
    public let tokenizer: Tokenizer
    /// The chat template, or the reason there is none (chat requests then fail with it).
    public let chatTemplate: Result<ChatTemplate, TokenizerError>

    /// Opens `path`, decodes its configuration, binds its weights and builds its tokenizer.
    public init(path: String, precision: MatMulPrecision = .quantizedActivations) throws(ModelLoadError) {
        do {
            file = try GGUFFile(path: path)
        } catch {
            throw .file(path: path, error)
        }
        do {
            config = try ModelConfig(gguf: file)
            model = try ModelArchitectures.load(store: WeightStore(file: file), config: config, precision: precision)
        } catch {
            throw .model(path: path, error)
        }
        do {
            tokenizer = try Tokenizer(vocabulary: TokenizerVocabulary(gguf: file))
        } catch {
            throw .tokenizer(path: path, error)
        }
        do throws(TokenizerError) {
            chatTemplate = .success(try ChatTemplate(template: file.string("tokenizer.chat_template")))
        } catch {
            chatTemplate = .failure(error)
        }
    }

    /// A short description of the file's tensor types, e.g. `Q4_1 (210), F32 (61), Q8_0 (1)`.
    public var quantizationSummary: String {
        var counts: [GGMLType: Int] = [:]
        for tensor in file.tensors { counts[tensor.type, default: 0] += 1 }
        return counts.sorted { $0.value > $1.value }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
    }
}
