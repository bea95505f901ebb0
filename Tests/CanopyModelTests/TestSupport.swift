import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation

/// Models shared by all tests of the process (opening maps the file; binding is cheap).
enum SharedModels {
    static let quantized: Result<LoadedModel, ModelLoadError> = load(.quantizedActivations)
    static let exact: Result<LoadedModel, ModelLoadError> = load(.float32)

    private static func load(_ precision: MatMulPrecision) -> Result<LoadedModel, ModelLoadError> {
        Result { () throws(ModelLoadError) in try LoadedModel(path: FixturePaths.defaultModel, precision: precision) }
    }

    /// The model for `precision`, or a failure that says how to get the file.
    static func model(_ precision: MatMulPrecision) throws -> LoadedModel {
        guard FileManager.default.fileExists(atPath: FixturePaths.defaultModel) else {
            throw MissingModel(path: FixturePaths.defaultModel)
        }
        return try (precision == .float32 ? exact : quantized).get()
    }

    struct MissingModel: Error, CustomStringConvertible {
        let path: String
        var description: String { "default model not found at \(path); run `make model` first" }
    }
}

/// A copy of the model file at `path` in a fresh temporary directory, removed when the
/// value goes away: for tests that damage the file under a loaded model.
final class ModelFileCopy {
    let directory: URL
    let path: String

    init(of source: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("canopy-model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent(URL(fileURLWithPath: source).lastPathComponent).path
        try FileManager.default.copyItem(atPath: source, toPath: path)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Runs greedy decoding directly on the model: prefill, then one token per step. `choose`
/// picks each token from the step's logits (default: their argmax; a parallel rank that
/// holds no logits asks the first rank instead).
func greedyDecode(
    _ loaded: LoadedModel, prompt: [Int32], steps: Int, stopAt endTokens: Set<Int32>, kvPrecision: KVPrecision = .f16,
    choose: ((_ logits: [Float]) -> Int32)? = nil
) throws -> (tokens: [Int32], firstLogits: [Float]) {
    let model = loaded.model
    let vocabulary = loaded.config.vocabularySize
    let cache = SingleSequenceCache(config: model.config, capacity: prompt.count + steps, precision: kvPrecision)
    var batch = ForwardBatch()
    cache.append(prompt, at: 0, to: &batch, wantsLogits: true)
    var logits = try model.forward(batch, kv: cache.storage)
    let first = logits
    var tokens: [Int32] = []
    while tokens.count < steps {
        let token = choose?(logits) ?? argmax(logits, count: vocabulary)
        tokens.append(token)
        if endTokens.contains(token) || tokens.count == steps { break }
        var next = ForwardBatch()
        cache.append([token], at: prompt.count + tokens.count - 1, to: &next, wantsLogits: true)
        logits = try model.forward(next, kv: cache.storage)
    }
    return (tokens, first)
}
