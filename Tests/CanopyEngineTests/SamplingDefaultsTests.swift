import CanopyGGUF
import Testing
@testable import CanopyEngine

/// The sampling defaults of requests that set none: the model file's `general.sampling.*`
/// keys where present and valid, llama.cpp's defaults otherwise, and a request line that
/// sets a parameter gets exactly that value.
@Suite struct SamplingDefaultsTests {
    static func file(_ entries: [(String, GGUFValue)]) throws -> GGUFFile {
        var writer = GGUFWriter()
        writer.add("general.architecture", .string("llama"))
        for (key, value) in entries { writer.add(key, value) }
        return try GGUFFile(bytes: writer.bytes())
    }

    @Test func aFileWithoutSamplingKeysGetsLlamaCppDefaults() throws {
        let defaults = SamplingDefaults(file: try Self.file([]))
        #expect(defaults == .llamaCpp)
        // llama.cpp's common_params_sampling: temp 0.80, top_k 40, top_p 0.95, min_p 0.05.
        #expect(defaults.temperature == 0.8 && defaults.topK == 40 && defaults.topP == 0.95 && defaults.minP == 0.05)
        #expect(defaults.repetitionPenalty == 1 && defaults.keysFromFile.isEmpty && defaults.ignored.isEmpty)
        let p = defaults.params
        #expect(p.temperature == 0.8 && p.topK == 40 && p.topP == 0.95 && p.minP == 0.05 && p.repetitionPenalty == 1)
        #expect(p.seed == nil && p.n == 1 && p.frequencyPenalty == 0 && p.presencePenalty == 0 && p.logprobs == nil)
    }

    @Test func theFilesRecommendedSettingsWinKeyByKey() throws {
        let defaults = SamplingDefaults(file: try Self.file([
            ("general.sampling.temp", .float32(0.6)),
            ("general.sampling.top_k", .int32(20)),
            ("general.sampling.min_p", .float32(0)),
            ("general.sampling.penalty_repeat", .float32(1.1)),
        ]))
        #expect(defaults.temperature == 0.6 && defaults.topK == 20 && defaults.minP == 0)
        #expect(defaults.repetitionPenalty == 1.1)
        #expect(defaults.topP == 0.95, "no top_p key: llama.cpp's")
        #expect(defaults.keysFromFile == [
            "general.sampling.temp", "general.sampling.top_k", "general.sampling.min_p", "general.sampling.penalty_repeat",
        ])
        #expect(defaults.ignored.isEmpty)
    }

    @Test func valuesARequestCouldNotCarryAreIgnoredWithAReason() throws {
        let defaults = SamplingDefaults(file: try Self.file([
            ("general.sampling.top_p", .float32(1.5)),
            ("general.sampling.temp", .string("warm")),
            ("general.sampling.top_k", .int32(-3)),
            ("general.sampling.min_p", .float64(0.1)),
        ]))
        #expect(defaults.topP == 0.95 && defaults.temperature == 0.8 && defaults.topK == 40)
        #expect(defaults.minP == 0.1 && defaults.keysFromFile == ["general.sampling.min_p"])
        #expect(defaults.ignored.count == 3)
        #expect(defaults.ignored.contains { $0.hasPrefix("general.sampling.top_p:") && $0.contains("top_p") })
        #expect(defaults.ignored.contains { $0 == "general.sampling.temp: not a number" })
        #expect(defaults.ignored.contains { $0.hasPrefix("general.sampling.top_k:") })
    }

    @Test func aBatchLineStartsFromTheDefaultsAndKeepsWhatItSets() throws {
        let defaults = SamplingDefaults(temperature: 0.7, topK: 30, topP: 0.9, minP: 0.02, repetitionPenalty: 1.05)
        let bare = try BatchRequestDecoder.decode(#"{"prompt": "hi"}"#, lineNumber: 1, defaults: defaults).result.get()
        #expect(bare.sampling == defaults.params)
        // Setting a parameter to its "off" value is a setting, not a request for the default.
        let line = #"{"prompt": "hi", "temperature": 0, "top_k": 0, "min_p": 0, "top_p": 1, "repetition_penalty": 1}"#
        let set = try BatchRequestDecoder.decode(line, lineNumber: 2, defaults: defaults).result.get()
        #expect(set.sampling.temperature == 0 && set.sampling.topK == 0 && set.sampling.minP == 0)
        #expect(set.sampling.topP == 1 && set.sampling.repetitionPenalty == 1)
    }
}
