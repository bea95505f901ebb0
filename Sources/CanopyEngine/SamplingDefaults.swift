import CanopyGGUF

/// What a request gets for each sampling parameter it leaves unset: the model file's
/// recommended settings where it carries them, else llama.cpp's defaults.
///
/// A request with no sampling parameters at all used to get temperature 1 and no cut, which
/// makes a small model ramble; llama.cpp, llama-server and Ollama users expect the file's or
/// llama.cpp's settings instead. The wire layers (`EngineMapping`, `BatchRequestDecoder`)
/// start every request from `params` and overwrite exactly the fields the client set, so a
/// request that sets a parameter (even to its "disabled" value, `top_k = 0`) gets exactly that.
///
/// The file's keys are llama.cpp's (`general.sampling.temp`, `.top_k`, `.top_p`, `.min_p`,
/// `.penalty_repeat`, read by its `common_init_from_params`). A value the engine would refuse
/// in a request (say `top_p = 1.5`) is not used: `ignored` says why, and llama.cpp's value
/// stands.
public struct SamplingDefaults: Sendable, Equatable {
    /// Softmax temperature of requests that set none.
    public var temperature: Float
    /// Top-k cut of requests that set none (0 is no cut).
    public var topK: Int
    /// Top-p cut of requests that set none (1 is no cut).
    public var topP: Float
    /// Min-p cut of requests that set none (0 is no cut).
    public var minP: Float
    /// Repetition penalty of requests that set none (1 is none).
    public var repetitionPenalty: Float
    /// The `general.sampling.*` keys whose values are used, in the order above.
    public var keysFromFile: [String] = []
    /// The file's sampling values that were not used, each with the reason.
    public var ignored: [String] = []

    /// llama.cpp's defaults (`common_params_sampling` in `common/common.h`): temperature
    /// 0.8, top-k 40, top-p 0.95, min-p 0.05, no repetition penalty.
    public static let llamaCpp = SamplingDefaults(temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repetitionPenalty: 1)

    /// Defaults with the given values and none from a file.
    public init(temperature: Float, topK: Int, topP: Float, minP: Float, repetitionPenalty: Float) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
    }

    /// The file's recommended settings over llama.cpp's defaults.
    public init(file: GGUFFile) {
        self = .llamaCpp
        for key in Self.keys {
            guard let value = file.float(key.name) else {
                if file.metadata[key.name] != nil { ignored.append("\(key.name): not a number") }
                continue
            }
            var candidate = params
            key.apply(value, &candidate)
            do {
                try candidate.validate()
            } catch {
                ignored.append("\(key.name): \(error)")
                continue
            }
            temperature = candidate.temperature
            topK = candidate.topK
            topP = candidate.topP
            minP = candidate.minP
            repetitionPenalty = candidate.repetitionPenalty
            keysFromFile.append(key.name)
        }
    }

    /// Request parameters holding these defaults (and the neutral values of the rest).
    public var params: SamplingParams {
        var p = SamplingParams()
        p.temperature = temperature
        p.topK = topK
        p.topP = topP
        p.minP = minP
        p.repetitionPenalty = repetitionPenalty
        return p
    }

    /// A `general.sampling.*` key and the request field it sets.
    private struct Key: Sendable {
        let name: String
        let apply: @Sendable (Double, inout SamplingParams) -> Void
    }

    /// The keys read, in llama.cpp's spelling. An integer key holding a fraction is truncated,
    /// as llama.cpp's `get_int32` reads it; a value out of `Int`'s range fails validation.
    private static let keys: [Key] = [
        Key(name: "general.sampling.temp") { v, p in p.temperature = Float(v) },
        Key(name: "general.sampling.top_k") { v, p in p.topK = v.isFinite && abs(v) < 1e9 ? Int(v) : -1 },
        Key(name: "general.sampling.top_p") { v, p in p.topP = Float(v) },
        Key(name: "general.sampling.min_p") { v, p in p.minP = Float(v) },
        Key(name: "general.sampling.penalty_repeat") { v, p in p.repetitionPenalty = Float(v) },
    ]
}
