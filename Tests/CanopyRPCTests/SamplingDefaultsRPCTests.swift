import CanopyEngine
import CanopyWire
import CanopyWireMapping
import Testing
@testable import CanopyRPC

/// Sampling defaults on the wire: a request's unset temperature, top-k, top-p, min-p and
/// repetition penalty take the model's defaults; a set one (an explicit 0 included) keeps
/// its presence over the wire and reaches the engine as sent; Info reports the defaults.
@Suite struct SamplingDefaultsRPCTests {
    static let defaults = SamplingDefaults(temperature: 0.7, topK: 30, topP: 0.9, minP: 0.02, repetitionPenalty: 1.05)

    static func roundTrip(_ message: CanopyV1.GenerateRequest) throws -> CanopyV1.GenerateRequest {
        try ProtobufCCodec.decode(CanopyV1.GenerateRequest.self, from: ProtobufCCodec.encode(message))
    }

    @Test func unsetParametersTakeTheModelsDefaults() throws {
        let decoded = try Self.roundTrip(CanopyV1.GenerateRequest(input: .prompt("x")))
        #expect(decoded.sampling.topK == nil && decoded.sampling.minP == nil && decoded.sampling.temperature == nil)
        let request = try EngineMapping.request(decoded, fallbackID: "r", defaults: Self.defaults)
        #expect(request.sampling == Self.defaults.params)
    }

    @Test func setParametersAreUsedExactlyEvenWhenZero() throws {
        var sampling = CanopyV1.SamplingParams()
        (sampling.temperature, sampling.topK, sampling.topP, sampling.minP, sampling.repetitionPenalty) = (0, 0, 1, 0, 1)
        let message = CanopyV1.GenerateRequest(input: .prompt("x"), sampling: sampling)
        let decoded = try Self.roundTrip(message)
        #expect(decoded == message)
        let s = try EngineMapping.request(decoded, fallbackID: "r", defaults: Self.defaults).sampling
        #expect(s.temperature == 0 && s.topK == 0 && s.topP == 1 && s.minP == 0 && s.repetitionPenalty == 1)
        // top_k = 2 (VARINT) and min_p = 4 (I32) set to 0 are on the wire: presence, not a default.
        var zeros = CanopyV1.SamplingParams()
        (zeros.topK, zeros.minP) = (0, 0)
        let bytes = try ProtobufCCodec.encode(zeros)
        #expect(bytes == [2 << 3, 0, 4 << 3 | 5, 0, 0, 0, 0])
        #expect(try ProtobufCCodec.encode(CanopyV1.SamplingParams()).isEmpty)
    }

    @Test func infoReportsTheDefaultsAndTheyRoundTrip() throws {
        let loaded = try RPCFixtures.model()
        let engine = try Engine(loaded: loaded, config: RPCFixtures.engineConfig)
        defer { engine.shutdown(drain: false) }
        // SmolLM2's file carries no general.sampling keys: llama.cpp's defaults.
        let info = CanopyService(engine: engine).info()
        let reported = try #require(info.samplingDefaults)
        #expect(reported == CanopyV1.SamplingDefaults(.llamaCpp))
        #expect((reported.temperature, reported.topK, reported.topP, reported.minP) == (0.8, 40, 0.95, 0.05))
        #expect(reported.description == "temperature 0.8, top-k 40, top-p 0.95, min-p 0.05 (llama.cpp's defaults)")
        #expect(try ProtobufCCodec.decode(CanopyV1.InfoResponse.self, from: ProtobufCCodec.encode(info)) == info)

        var fromFile = CanopyV1.SamplingDefaults(Self.defaults)
        fromFile.keysFromFile = ["general.sampling.temp", "general.sampling.top_k"]
        #expect(fromFile.description == "temperature 0.7, top-k 30, top-p 0.9, min-p 0.02, repetition penalty 1.05 (from the model file: general.sampling.temp, general.sampling.top_k)")
        var older = info
        older.samplingDefaults = nil
        #expect(try ProtobufCCodec.decode(CanopyV1.InfoResponse.self, from: ProtobufCCodec.encode(older)).samplingDefaults == nil)
    }
}
