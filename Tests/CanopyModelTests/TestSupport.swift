import CanopyKernels
import CanopyModel
import Foundation

/// Locations of the repository's test fixtures and of the default model.
enum TestPaths {
    /// `<repo>/Tests/Fixtures`.
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The default model: `$CANOPY_MODEL`, else `<repo>/models/SmolLM2-135M-Instruct.Q4_1.gguf`.
    static let defaultModel: String = {
        if let path = ProcessInfo.processInfo.environment["CANOPY_MODEL"] { return path }
        return fixtures.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    }()
}

/// Models shared by all tests of the process (opening maps the file; binding is cheap).
enum SharedModels {
    static let quantized: Result<LoadedModel, ModelLoadError> = load(.quantizedActivations)
    static let exact: Result<LoadedModel, ModelLoadError> = load(.float32)

    private static func load(_ precision: MatMulPrecision) -> Result<LoadedModel, ModelLoadError> {
        Result { () throws(ModelLoadError) in try LoadedModel(path: TestPaths.defaultModel, precision: precision) }
    }

    /// The model for `precision`, or a failure that says how to get the file.
    static func model(_ precision: MatMulPrecision) throws -> LoadedModel {
        guard FileManager.default.fileExists(atPath: TestPaths.defaultModel) else {
            throw MissingModel(path: TestPaths.defaultModel)
        }
        return try (precision == .float32 ? exact : quantized).get()
    }

    struct MissingModel: Error, CustomStringConvertible {
        let path: String
        var description: String { "default model not found at \(path); run `make model` first" }
    }
}

/// One record of `greedy.jsonl`.
struct GreedyRecord: Decodable {
    let prompt: String?
    let prompt_ids: [Int32]
    let n_predict: Int
    let greedy_ids: [Int32]
    /// `[token_id, logit]` pairs, five per step.
    let top5_per_step: [[[Double]]]

    static func load(_ relativePath: String) throws -> [GreedyRecord] {
        let text = try String(contentsOf: TestPaths.fixtures.appendingPathComponent(relativePath), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(GreedyRecord.self, from: Data($0.utf8)) }
    }

    /// Compares our greedy tokens with llama.cpp's: identical up to the first differing step,
    /// where ours must be a near tie in llama.cpp's top-5. Returns the number of identical
    /// leading tokens, or a description of the violation.
    func compare(_ ours: [Int32], tieMargin: Double = 0.25) -> Result<Int, ComparisonFailure> {
        for step in 0..<min(ours.count, greedy_ids.count) where ours[step] != greedy_ids[step] {
            let top = top5_per_step[step]
            let best = top[0][1]
            guard let entry = top.first(where: { Int32($0[0]) == ours[step] }) else {
                return .failure(ComparisonFailure(description: "step \(step): chose \(ours[step]), not in llama.cpp's top-5 \(top)"))
            }
            guard best - entry[1] <= tieMargin else {
                return .failure(ComparisonFailure(description: "step \(step): chose \(ours[step]) with llama.cpp logit \(entry[1]), top-1 \(best): not a near tie"))
            }
            return .success(step)
        }
        return .success(min(ours.count, greedy_ids.count))
    }

    struct ComparisonFailure: Error, CustomStringConvertible {
        let description: String
    }
}

/// Reads a little-endian f32 file.
func readFloats(_ relativePath: String) throws -> [Float] {
    let data = try Data(contentsOf: TestPaths.fixtures.appendingPathComponent(relativePath))
    return data.withUnsafeBytes { raw in
        (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
    }
}

/// Cosine similarity in double precision.
func cosine(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in a.indices {
        dot += Double(a[i]) * Double(b[i])
        na += Double(a[i]) * Double(a[i])
        nb += Double(b[i]) * Double(b[i])
    }
    return dot / (na.squareRoot() * nb.squareRoot())
}

/// Runs greedy decoding directly on the model: prefill, then one token per step.
func greedyDecode(
    _ loaded: LoadedModel, prompt: [Int32], steps: Int, stopAt endTokens: Set<Int32>, kvPrecision: KVPrecision = .f16
) -> (tokens: [Int32], firstLogits: [Float]) {
    let model = loaded.model
    let vocabulary = loaded.config.vocabularySize
    let cache = SingleSequenceCache(config: loaded.config, capacity: prompt.count + steps, precision: kvPrecision)
    var batch = ForwardBatch()
    cache.append(prompt, at: 0, to: &batch, wantsLogits: true)
    var logits = model.forward(batch, kv: cache.storage)
    let first = logits
    var tokens: [Int32] = []
    while tokens.count < steps {
        let token = argmax(logits, count: vocabulary)
        tokens.append(token)
        if endTokens.contains(token) || tokens.count == steps { break }
        var next = ForwardBatch()
        cache.append([token], at: prompt.count + tokens.count - 1, to: &next, wantsLogits: true)
        logits = model.forward(next, kv: cache.storage)
    }
    return (tokens, first)
}

func argmax(_ values: [Float], count: Int) -> Int32 {
    var best = 0
    for i in 1..<count where values[i] > values[best] { best = i }
    return Int32(best)
}
