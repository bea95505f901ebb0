import CanopyEngine
import CanopyWire
import CanopyWireMapping
import Testing
@testable import CanopyRPC

/// Speculative decoding on the wire: the request's `speculative_tokens` (presence kept, an
/// explicit 0 included) reaches the engine request, Stats carries the engine's counters,
/// also as Prometheus counters, and Info the settings and the draft model.
@Suite struct SpeculationRPCTests {
    @Test func speculativeTokensRoundTripsAndMapsToTheEngineRequest() throws {
        for value: Int32? in [nil, 0, 1, 8, 32, 33, -1] {
            let message = CanopyV1.GenerateRequest(input: .prompt("x"), speculativeTokens: value)
            let decoded = try ProtobufCCodec.decode(CanopyV1.GenerateRequest.self, from: ProtobufCCodec.encode(message))
            #expect(decoded == message)
            #expect(try EngineMapping.request(decoded, fallbackID: "r", defaults: .llamaCpp).speculativeTokens == value.map(Int.init))
        }
        // speculative_tokens = 13 (VARINT) set to 0 is on the wire: presence, not a default.
        let zero = try ProtobufCCodec.encode(CanopyV1.GenerateRequest(input: nil, speculativeTokens: 0))
        #expect(zero.suffix(2) == [13 << 3, 0])
    }

    @Test func statsCarryTheEngineCountersAndRoundTrip() throws {
        var metrics = EngineMetrics()
        metrics.speculation = SpeculationStats(
            chunks: 10, proposedTokens: 40, acceptedTokens: 30, draftingSeconds: 0.5, verificationTokenCost: 0.46)
        let stats = EngineMapping.stats(metrics)
        let s = stats.speculation
        #expect(s.chunks == 10 && s.proposedTokens == 40 && s.acceptedTokens == 30 && s.draftingSeconds == 0.5)
        #expect(s.verificationTokenCost == 0.46)
        #expect(s.acceptanceRate == 0.75 && s.tokensPerChunk == 4)
        let decoded = try ProtobufCCodec.decode(CanopyV1.StatsResponse.self, from: ProtobufCCodec.encode(stats))
        #expect(decoded == stats)
        #expect(try ProtobufCCodec.decode(CanopyV1.StatsResponse.self, from: ProtobufCCodec.encode(CanopyV1.StatsResponse()))
            .speculation == CanopyV1.SpeculationStats())
    }

    @Test func prometheusCounters() {
        var metrics = EngineMetrics()
        metrics.speculation = SpeculationStats(
            chunks: 10, proposedTokens: 40, acceptedTokens: 30, draftingSeconds: 0.5, verificationTokenCost: 0.46)
        let text = PrometheusText.render(EngineMapping.stats(metrics))
        for (name, value) in [
            ("canopy_speculative_chunks_total", "10"), ("canopy_speculative_proposed_tokens_total", "40"),
            ("canopy_speculative_accepted_tokens_total", "30"), ("canopy_speculative_drafting_seconds_total", "0.5"),
        ] {
            #expect(text.contains("# TYPE \(name) counter\n\(name) \(value)\n"), "\(name)")
        }
        let gauge = "canopy_speculative_verification_token_cost"
        #expect(text.contains("# TYPE \(gauge) gauge\n\(gauge) 0.46\n"), "\(text)")
    }

    @Test func infoCarriesTheSettings() throws {
        var info = CanopyV1.InfoResponse()
        (info.engine.speculative, info.engine.speculativeTokens, info.engine.speculativeStepTokens) = ("ngram", 8, 0)
        #expect(try ProtobufCCodec.decode(CanopyV1.InfoResponse.self, from: ProtobufCCodec.encode(info)) == info)
        info.engine.draftModel = "/models/draft.gguf"
        #expect(try ProtobufCCodec.decode(CanopyV1.InfoResponse.self, from: ProtobufCCodec.encode(info)) == info)
        info.engine.maxDecodeStall = 2.5  // not speculation, but the same message
        #expect(try ProtobufCCodec.decode(CanopyV1.InfoResponse.self, from: ProtobufCCodec.encode(info)) == info)
    }

    /// Info names the draft model the engine was given (its path as loaded), and none without.
    @Test func infoReportsTheDraftModel() throws {
        let loaded = try RPCFixtures.model()
        var config = RPCFixtures.engineConfig
        config.speculative = .draft
        let drafted = try Engine(loaded: loaded, draft: loaded, config: config)
        defer { drafted.shutdown(drain: false) }
        let info = CanopyService(engine: drafted).info().engine
        #expect(info.speculative == "draft" && info.draftModel == RPCFixtures.modelPath)
        let plain = try Engine(loaded: loaded, config: RPCFixtures.engineConfig)
        defer { plain.shutdown(drain: false) }
        #expect(CanopyService(engine: plain).info().engine.draftModel == "")
    }
}
