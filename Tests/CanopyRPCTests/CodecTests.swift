import CCanopyProto
import CanopyModel
import CanopyWire
import GRPCCore
import CanopyWireMapping
import Testing
@testable import CanopyRPC

/// Round trips through libprotobuf-c, and wire bytes checked against the protobuf encoding
/// rules (hand-encoded: tag = field << 3 | wire type; varints; little-endian fixed32).
@Suite struct CodecTests {
    func roundTrip<M: ProtobufCRepresentable & Equatable>(_ value: M) throws -> M {
        try ProtobufCCodec.decode(M.self, from: ProtobufCCodec.encode(value))
    }

    @Test func generateRequestRoundTripsEveryInputAndParameter() throws {
        var sampling = CanopyV1.SamplingParams()
        sampling.temperature = 0  // explicit zero must survive as "set"
        sampling.topK = 40
        sampling.topP = 0.9
        sampling.minP = 0.05
        sampling.seed = .max
        sampling.repetitionPenalty = 1.1
        sampling.frequencyPenalty = -0.5
        sampling.presencePenalty = 0.25
        sampling.n = 3
        sampling.logprobs = 0
        var stop = CanopyV1.StopParams()
        stop.maxTokens = 17
        stop.stop = ["\n\n", "END", "é✓"]
        stop.stopTokenIDs = [2, 49151]
        stop.ignoreEOS = true
        let inputs: [CanopyV1.GenerateRequest.Input?] = [
            .prompt("Once upon a time <|im_start|> ünïcödé"),
            .promptIDs([1, 504, 3156, Int32.max]),
            .messages([.init(role: "system", content: "Be brief."), .init(role: "user", content: "Hi")]),
            nil,
        ]
        let parallels: [CanopyV1.ParallelParams?] = [
            nil, .init(), .init(apar: false), .init(apar: true, maxDepth: 0, maxBranches: 64),
        ]
        for input in inputs {
            for parallel in parallels {
                let request = CanopyV1.GenerateRequest(
                    requestID: "r-1", input: input, sampling: sampling, stop: stop, parallel: parallel)
                #expect(try roundTrip(request) == request)
            }
        }
        let defaults = CanopyV1.GenerateRequest(input: .prompt("x"))
        let decoded = try roundTrip(defaults)
        #expect(decoded == defaults)
        #expect(decoded.sampling.temperature == nil && decoded.sampling.seed == nil && decoded.stop.maxTokens == nil)
    }

    @Test func generateEventsRoundTrip() throws {
        let token = CanopyV1.SampledToken(id: 42, logprob: -0.5, topLogprobs: [.init(id: 42, logprob: -0.5), .init(id: 7, logprob: -2)])
        var summary = CanopyV1.GenerateSummary()
        summary.requestID = "abc"
        summary.promptTokenIDs = [1, 2, 3]
        summary.samples = [
            .init(index: 0, finishReason: .stop, tokenIDs: [5, 2], text: "hé", logprobs: [token]),
            .init(index: 1, finishReason: .length, tokenIDs: [], text: ""),
            .init(
                index: 2, finishReason: .stop, tokenIDs: [9, 32000, 4], text: "a (b)c",
                branches: [
                    .init(id: 0, parent: nil, finishReason: .stop, tokenIDs: [9, 32000, 4], text: "ac",
                          forks: [.init(textOffset: 1, child: 1)]),
                    .init(id: 1, parent: 0, finishReason: .length, tokenIDs: [32001, 8], text: " (b)"),
                ]),
        ]
        summary.usage.promptTokens = 3
        summary.usage.completionTokens = 2
        summary.usage.cachedPromptTokens = 1
        summary.usage.preemptions = 4
        summary.usage.branches = 4
        summary.timings.queueSeconds = 0.001
        summary.timings.timeToFirstTokenSeconds = 0.02
        summary.timings.meanInterTokenLatencySeconds = 0.003
        summary.timings.endToEndSeconds = 1.5
        let events: [CanopyV1.GenerateEvent] = [
            .token(.init(sample: 1, token: token, text: "he")),
            .token(.init(sample: 0, token: .init(id: 0), text: "")),
            .token(.init(sample: 0, token: .init(id: 32001), text: "", branch: 3, parentBranch: 0)),
            .sampleFinished(.init(sample: 2, reason: .cancelled)),
            .summary(summary),
            .unknown,
        ]
        for event in events { #expect(try roundTrip(event) == event) }
    }

    @Test func otherMessagesRoundTrip() throws {
        #expect(try roundTrip(CanopyV1.TokenizeRequest(text: "Hello, world", addSpecial: true, parseSpecial: true)).text == "Hello, world")
        #expect(try roundTrip(CanopyV1.TokenizeResponse(ids: [0, 1, -1, 49151])) == .init(ids: [0, 1, -1, 49151]))
        #expect(try roundTrip(CanopyV1.DetokenizeRequest(ids: [9, 8], renderSpecial: true)) == .init(ids: [9, 8], renderSpecial: true))
        #expect(try roundTrip(CanopyV1.DetokenizeResponse(text: "ok ✓")) == .init(text: "ok ✓"))
        #expect(try roundTrip(CanopyV1.HealthRequest()) == .init())
        #expect(try roundTrip(CanopyV1.HealthResponse(status: .draining, uptimeSeconds: 12.5)) == .init(status: .draining, uptimeSeconds: 12.5))
        #expect(try roundTrip(CanopyV1.InfoRequest()) == .init())
        #expect(try roundTrip(CanopyV1.StatsRequest()) == .init())
        var info = CanopyV1.InfoResponse()
        info.modelPath = "/m.gguf"
        info.architecture = "llama"
        info.contextLength = 8192
        info.vocabSize = 49152
        info.quantization = "Q4_1 (210), F32 (61)"
        info.parameterCount = 134_515_008
        info.tensorCount = 272
        info.serverVersion = "v"
        info.embeddingLength = 576
        info.blockCount = 30
        info.headCount = 9
        info.headCountKV = 3
        info.chatTemplate = "chatml"
        info.engine.kvCacheMemoryBytes = 1 << 33
        info.engine.blockSize = 16
        info.engine.kvPrecision = "q8"
        info.engine.maxBatchedTokens = 1024
        info.engine.maxSequences = 64
        info.engine.maxWaitingRequests = 4096
        info.engine.prefixCaching = true
        info.engine.defaultMaxTokens = 0
        info.engine.kvTotalBlocks = 99
        #expect(try roundTrip(info) == info)
        var stats = CanopyV1.StatsResponse()
        stats.waitingSequences = 1
        stats.runningSequences = 2
        stats.steps = 3
        stats.batchedTokens = 4
        stats.generatedTokens = .max
        stats.requestsCompleted = 6
        stats.requestsCancelled = 7
        stats.promptTokens = 8
        stats.cachedPromptTokens = 9
        stats.preemptions = 10
        stats.kv = .init()
        stats.kv.totalBlocks = 11
        stats.kv.usedBlocks = 12
        stats.kv.freeBlocks = 13
        stats.kv.cachedBlocks = 14
        stats.kv.prefixQueries = 15
        stats.kv.prefixHits = 16
        stats.kv.evictions = 17
        stats.kv.copyOnWrites = 18
        stats.kv.peakUsedBlocks = 21
        stats.meanQueueSeconds = 0.1
        stats.meanTimeToFirstTokenSeconds = 0.2
        stats.meanInterTokenLatencySeconds = 0.3
        stats.meanEndToEndSeconds = 0.4
        stats.uptimeSeconds = 5
        stats.prometheusText = "# HELP x\n"
        stats.requestsFailed = 19
        stats.aparForks = 20
        #expect(try roundTrip(stats) == stats)
        var streaming = CanopyV1.WeightStreamingStats()
        (streaming.budgetBytes, streaming.residentBytes, streaming.streamedBytesPerPass) = (20, 21, 22)
        (streaming.streamedLayers, streaming.totalLayers, streaming.bytesRead) = (23, 24, 25)
        (streaming.prefetchReads, streaming.prefetchHits, streaming.stalls) = (26, 27, 28)
        (streaming.stallSeconds, streaming.demandReads) = (2.5, 29)
        stats.weightStreaming = streaming
        #expect(try roundTrip(stats) == stats)
        (stats.preemptionsSwapped, stats.preemptionsRecomputed) = (30, 31)
        var swap = CanopyV1.KVSwapStats()
        (swap.slots, swap.slotBytes, swap.freeSlots, swap.cachedBlocks, swap.swappedSequences) = (32, 33, 34, 35, 36)
        (swap.swapOutBlocks, swap.swapOutBytes, swap.swapInBlocks, swap.swapInBytes) = (37, 38, 39, 40)
        (swap.prefixSwapHits, swap.failures) = (41, 42)
        stats.kvSwap = swap
        #expect(try roundTrip(stats) == stats)
    }

    @Test func wireBytesFollowTheProtobufEncoding() throws {
        // text = 1 (LEN): 0x0A len "hi"; add_special = 2 (VARINT): 0x10 0x01.
        #expect(try ProtobufCCodec.encode(CanopyV1.TokenizeRequest(text: "hi", addSpecial: true)) == [0x0A, 0x02, 0x68, 0x69, 0x10, 0x01])
        // Presence: temperature = 1 (I32) explicitly 0.0 is sent; unset is not.
        var sampling = CanopyV1.SamplingParams()
        #expect(try ProtobufCCodec.encode(sampling) == [])
        sampling.temperature = 0
        #expect(try ProtobufCCodec.encode(sampling) == [0x0D, 0, 0, 0, 0])
        // Packed repeated int32 (proto3 default): ids = 1, LEN 14, varints; -1 is 10 bytes.
        let decoded = try ProtobufCCodec.decode(
            CanopyV1.TokenizeResponse.self,
            from: [0x0A, 0x0E, 0x01, 0x96, 0x01] + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01] + [0x00])
        #expect(decoded.ids == [1, 150, -1, 0])
        // A oneof member: prompt = 2 (LEN) "ab".
        let request = try ProtobufCCodec.decode(CanopyV1.GenerateRequest.self, from: [0x12, 0x02, 0x61, 0x62])
        #expect(request.input == .prompt("ab"))
        // Unknown fields (a newer client's) are skipped: field 99 varint 5.
        let withUnknown = try ProtobufCCodec.decode(CanopyV1.TokenizeRequest.self, from: [0x98, 0x06, 0x05, 0x0A, 0x01, 0x7A])
        #expect(withUnknown.text == "z")
    }

    @Test func messagesOverTheLimitAreRefusedBothWays() throws {
        let big = CanopyV1.TokenizeRequest(text: String(repeating: "a", count: 1000))
        #expect(throws: ProtobufCCodecError.messageTooLarge(message: "canopy.v1.TokenizeRequest", bytes: 1003, limit: 1000)) {
            try ProtobufCCodec.encode(big, maxMessageBytes: 1000)
        }
        let bytes = try ProtobufCCodec.encode(big)
        #expect(bytes.count == 1003)
        #expect(throws: ProtobufCCodecError.self) {
            try ProtobufCCodec.decode(CanopyV1.TokenizeRequest.self, from: bytes, maxMessageBytes: 1002)
        }
        #expect(try ProtobufCCodec.decode(CanopyV1.TokenizeRequest.self, from: bytes, maxMessageBytes: 1003) == big)
        // The default limit is 4 MiB.
        let huge = CanopyV1.TokenizeRequest(text: String(repeating: "b", count: 4 << 20))
        #expect(throws: ProtobufCCodecError.self) { try ProtobufCCodec.encode(huge) }
    }

    @Test func undecodableBytesAreMalformed() throws {
        let garbage: [[UInt8]] = [
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],  // endless varint
            [0x0A, 0x05, 0x61],  // LEN field longer than the data
            [0x0A],  // tag without value
            [0x0F, 0x00],  // wire type 7 does not exist
            [0x08, 0x01],  // field 1 as VARINT, but text is a string
        ]
        for bytes in garbage {
            #expect(throws: ProtobufCCodecError.malformed(message: "canopy.v1.TokenizeRequest", bytes: bytes.count)) {
                try ProtobufCCodec.decode(CanopyV1.TokenizeRequest.self, from: bytes)
            }
        }
        // Empty bytes are a valid message with every field at its default.
        #expect(try ProtobufCCodec.decode(CanopyV1.TokenizeRequest.self, from: []) == .init(text: ""))
    }

    /// proto3 string fields must be UTF-8; protobuf-c does not check, the codec does, at any depth.
    @Test func invalidUTF8InAStringFieldIsRefused() throws {
        #expect(throws: ProtobufCCodecError.invalidUTF8(message: "canopy.v1.TokenizeRequest", field: "text")) {
            try ProtobufCCodec.decode(CanopyV1.TokenizeRequest.self, from: [0x0A, 0x03, 0x61, 0xC3, 0x28])
        }
        // GenerateRequest.messages (4) -> ChatMessages.messages (1) -> [valid, ChatMessage.content (2) = ED A0 80, a surrogate]
        let valid: [UInt8] = [0x0A, 0x04, 0x75, 0x73, 0x65, 0x72, 0x12, 0x02, 0x68, 0x69]
        let bad: [UInt8] = [0x12, 0x03, 0xED, 0xA0, 0x80]
        let list: [UInt8] = [0x0A, UInt8(valid.count)] + valid + [0x0A, UInt8(bad.count)] + bad
        let request: [UInt8] = [0x22, UInt8(list.count)] + list
        #expect(throws: ProtobufCCodecError.invalidUTF8(message: "canopy.v1.GenerateRequest", field: "messages.messages[1].content")) {
            try ProtobufCCodec.decode(CanopyV1.GenerateRequest.self, from: request)
        }
        // Repeated strings (StopParams.stop = field 2 of GenerateRequest.stop = 11).
        let stop: [UInt8] = [0x12, 0x01, 0x61, 0x12, 0x01, 0xFF]
        #expect(throws: ProtobufCCodecError.invalidUTF8(message: "canopy.v1.GenerateRequest", field: "stop.stop[1]")) {
            try ProtobufCCodec.decode(CanopyV1.GenerateRequest.self, from: [0x5A, UInt8(stop.count)] + stop)
        }
        // Multi-byte UTF-8 is fine.
        let text = Array("héllo 日本 🌲".utf8)
        #expect(try ProtobufCCodec.decode(CanopyV1.TokenizeRequest.self, from: [0x0A, UInt8(text.count)] + text)
            == .init(text: "héllo 日本 🌲"))
    }

    @Test func codecErrorsMapToGRPCStatusCodes() throws {
        let deserializer = ProtobufCDeserializer<CanopyV1.TokenizeRequest>(maxMessageBytes: 4)
        #expect { let _: CanopyV1.TokenizeRequest = try deserializer.deserialize([UInt8]([0x0A, 0x09])) } throws: {
            ($0 as? RPCError)?.code == .invalidArgument
        }
        #expect { let _: CanopyV1.TokenizeRequest = try deserializer.deserialize([UInt8](repeating: 0, count: 5)) } throws: {
            ($0 as? RPCError)?.code == .resourceExhausted
        }
        let serializer = ProtobufCSerializer<CanopyV1.TokenizeRequest>(maxMessageBytes: 4)
        #expect { let _: [UInt8] = try serializer.serialize(.init(text: "hello")) } throws: {
            ($0 as? RPCError)?.code == .resourceExhausted
        }
    }

    /// A request the engine failed mid-flight ends with a status a client can act on:
    /// memory may come back (RESOURCE_EXHAUSTED), an unreadable model file does not
    /// (UNAVAILABLE, and canopyd turns NOT_SERVING); so does a response the arena could
    /// not allocate.
    @Test func engineFailuresAndArenaExhaustionMapToGRPCStatusCodes() {
        let memory = EngineMapping.rpcError(ForwardError.outOfMemory(bytes: 1 << 20))
        #expect(memory.code == .resourceExhausted && memory.message.contains("1048576 bytes"))
        let file = EngineMapping.rpcError(ForwardError.weightsUnreadable(reason: "unexpected end of file"))
        #expect(file.code == .unavailable && file.message.contains("unexpected end of file"))
        #expect(ProtobufCCodecError.outOfMemory(bytes: 64).rpcError.code == .resourceExhausted)
    }
}
