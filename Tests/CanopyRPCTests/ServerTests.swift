import CanopyClient
import CanopyEngine
import CanopyModel
import CanopyTestFixtures
import CanopyWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Testing
@testable import CanopyRPC

/// Every method over real gRPC on a Unix socket, against the default model.
@Suite(.serialized) struct ServerTests {
    @Test func healthInfoStatsTokenizeDetokenize() async throws {
        let loaded = try RPCFixtures.model()
        try await RPCFixtures.withServer { _, client, engine, _ in
            let health = try await client.health()
            #expect(health.status == .serving)
            // Uptime counts from the server's start; on a loaded machine (all suites at once,
            // kernels capped at scalar) this test may start long after it.
            #expect(health.uptimeSeconds >= 0 && health.uptimeSeconds < TestTimeouts.seconds(600))

            let info = try await client.info()
            #expect(info.modelPath == RPCFixtures.modelPath)
            #expect(info.architecture == loaded.config.architecture)
            #expect(info.contextLength == UInt32(loaded.config.contextLength))
            #expect(info.vocabSize == 49152)
            #expect(info.quantization.contains("Q4_1"))
            #expect(info.tensorCount == UInt32(loaded.file.tensors.count))
            // SmolLM2-135M: about 135 million weights (tied embeddings counted once).
            #expect(info.parameterCount > 100_000_000 && info.parameterCount < 170_000_000)
            #expect(info.engine.kvCacheMemoryBytes == 64 << 20)
            #expect(info.engine.blockSize == 16 && info.engine.kvPrecision == "f16")
            #expect(info.engine.defaultMaxTokens == 256)
            #expect(info.engine.kvTotalBlocks == UInt32(engine.metrics().kv.totalBlocks) && info.engine.kvTotalBlocks > 0)
            #expect(!info.serverVersion.isEmpty)

            let text = "Hello, world! <|im_start|>user"
            let plain = try await client.tokenize(.init(text: text))
            #expect(plain.ids == loaded.tokenizer.encode(text))
            let special = try await client.tokenize(.init(text: text, parseSpecial: true))
            #expect(special.ids == loaded.tokenizer.encode(text, parseSpecial: true))
            #expect(special.ids.contains(loaded.tokenizer.tokenID(forText: "<|im_start|>")!))
            #expect(special.ids.count < plain.ids.count)
            let back = try await client.detokenize(.init(ids: plain.ids))
            #expect(back.text == text)
            let rendered = try await client.detokenize(.init(ids: special.ids, renderSpecial: true))
            #expect(rendered.text == text)

            let stats = try await client.stats()
            #expect(stats.kv.totalBlocks == info.engine.kvTotalBlocks && stats.kv.usedBlocks == 0)
            #expect(stats.prometheusText.contains("\ncanopy_kv_blocks_capacity \(stats.kv.totalBlocks)\n"))
        }
    }

    @Test func greedyGenerateStreamsWhatTheEngineProducesInProcess() async throws {
        try await RPCFixtures.withServer { _, client, engine, _ in
            let prompt = "The capital of France is"
            var request = Request(id: "ref", prompt: .text(prompt))
            request.sampling.temperature = 0
            request.stop.maxTokens = 24
            let reference = try await RPCFixtures.runInProcess(engine, request)

            var message = CanopyV1.GenerateRequest(requestID: "rpc-1", input: .prompt(prompt))
            message.sampling.temperature = 0
            message.stop.maxTokens = 24
            let events = EventLog()
            let summary = try await client.generate(message) { await events.append($0) }
            let streamed = await events.events

            #expect(summary.requestID == "rpc-1")
            #expect(summary.promptTokenIDs == reference.promptTokenIDs)
            #expect(summary.samples.count == 1)
            let sample = try #require(summary.samples.first)
            #expect(sample.tokenIDs == reference.samples[0].tokenIDs)
            #expect(sample.text == reference.samples[0].text)
            #expect(sample.finishReason == (reference.samples[0].finishReason == .length ? .length : .stop))
            #expect(!sample.tokenIDs.isEmpty)

            // The stream: token deltas in order, one sample_finished, the summary last.
            let deltas = streamed.compactMap { if case .token(let d) = $0 { d } else { nil } }
            #expect(deltas.map(\.token.id) == sample.tokenIDs)
            #expect(deltas.map(\.text).joined() == sample.text)
            #expect(deltas.allSatisfy { $0.sample == 0 && $0.token.logprob == nil })
            let finished = streamed.compactMap { if case .sampleFinished(let f) = $0 { f } else { nil } }
            #expect(finished == [CanopyV1.SampleFinished(sample: 0, reason: sample.finishReason)])
            if case .summary = streamed.last {} else { Issue.record("the last event is not the summary") }

            #expect(summary.usage.promptTokens == UInt32(reference.promptTokenIDs.count))
            #expect(summary.usage.completionTokens == UInt32(sample.tokenIDs.count))
            // The second run of the same prompt hits the prefix cache (all full blocks).
            #expect(summary.usage.cachedPromptTokens == UInt32(reference.promptTokenIDs.count / 16 * 16))
            #expect(summary.timings.endToEndSeconds >= summary.timings.timeToFirstTokenSeconds)
            #expect(summary.timings.timeToFirstTokenSeconds > 0)

            let stats = try await client.stats()
            #expect(stats.requestsCompleted == 2)
            #expect(stats.generatedTokens == UInt64(2 * sample.tokenIDs.count))
            #expect(stats.prometheusText.contains("\ncanopy_generated_tokens_total \(stats.generatedTokens)\n"))
        }
    }

    @Test func chatMessagesSeveralSamplesAndLogprobs() async throws {
        try await RPCFixtures.withServer { _, client, engine, _ in
            let messages = [CanopyV1.ChatMessage(role: "user", content: "Name a colour.")]
            // The RPC request leaves top-k, top-p and min-p unset: it gets the model's defaults.
            var request = Request(
                id: "ref", prompt: .messages(messages.map { .init(role: $0.role, content: $0.content) }),
                sampling: engine.samplingDefaults.params)
            request.sampling.temperature = 0.8
            request.sampling.seed = 7
            request.sampling.n = 2
            request.sampling.logprobs = 2
            request.stop.maxTokens = 8
            let reference = try await RPCFixtures.runInProcess(engine, request)

            var message = CanopyV1.GenerateRequest(input: .messages(messages))
            message.sampling.temperature = 0.8
            message.sampling.seed = 7
            message.sampling.n = 2
            message.sampling.logprobs = 2
            message.stop.maxTokens = 8
            let summary = try await client.generate(message)
            #expect(summary.requestID.hasPrefix("req-"))  // made up by the server
            #expect(summary.promptTokenIDs == reference.promptTokenIDs)
            #expect(summary.samples.map(\.tokenIDs) == reference.samples.map(\.tokenIDs))
            for (ours, theirs) in zip(summary.samples, reference.samples) {
                #expect(ours.logprobs.count == ours.tokenIDs.count)
                #expect(ours.logprobs.map(\.logprob) == theirs.logprobs.map(\.logprob))
                #expect(ours.logprobs.allSatisfy { $0.topLogprobs.count == 2 && $0.logprob! <= 0 })
            }
        }
    }

    @Test func invalidRequestsAreInvalidArgumentWithTheReason() async throws {
        try await RPCFixtures.withServer { _, client, _, path in
            func status(_ message: CanopyV1.GenerateRequest) async -> RPCError? {
                do {
                    try await client.generate(message)
                    return nil
                } catch {
                    return error as? RPCError
                }
            }
            var hot = CanopyV1.GenerateRequest(input: .prompt("Hi"))
            hot.sampling.temperature = -1
            let e1 = await status(hot)
            #expect(e1?.code == .invalidArgument && e1!.message.contains("temperature"))
            let e2 = await status(CanopyV1.GenerateRequest(input: nil))
            #expect(e2?.code == .invalidArgument && e2!.message.contains("prompt"))
            let e3 = await status(CanopyV1.GenerateRequest(input: .promptIDs([1, 999_999])))
            #expect(e3?.code == .invalidArgument && e3!.message.contains("999999"))
            let e4 = await status(CanopyV1.GenerateRequest(input: .prompt("")))
            #expect(e4?.code == .invalidArgument && e4!.message.contains("empty"))
            var many = CanopyV1.GenerateRequest(input: .prompt("Hi"))
            many.sampling.n = 0
            let e5 = await status(many)
            #expect(e5?.code == .invalidArgument && e5!.message.contains("n"))
            var long = CanopyV1.GenerateRequest(input: .prompt("Hi"))
            long.stop.maxTokens = 1_000_000
            let e6 = await status(long)
            #expect(e6?.code == .invalidArgument && e6!.message.contains("max_tokens"))
            let e7 = await status(CanopyV1.GenerateRequest(input: .prompt("Hi"), speculativeTokens: 33))
            #expect(e7?.code == .invalidArgument && e7!.message.contains("speculative_tokens"))

            await #expect { try await client.detokenize(.init(ids: [-3])) } throws: {
                ($0 as? RPCError)?.code == .invalidArgument && ($0 as! RPCError).message.contains("-3")
            }
            // Undecodable bytes and unknown methods, through a raw gRPC client.
            let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: path), transportSecurity: .plaintext)
            try await withGRPCClient(transport: transport) { raw in
                await #expect {
                    try await raw.unary(
                        request: ClientRequest(message: [0x0A, 0x05, 0x61]), descriptor: CanopyMethods.tokenize,
                        serializer: RawBytesSerializer(), deserializer: ProtobufCDeserializer<CanopyV1.TokenizeResponse>(),
                        options: .defaults) { try $0.message }
                } throws: { ($0 as? RPCError)?.code == .invalidArgument }
                await #expect {
                    try await raw.unary(
                        request: ClientRequest(message: []), descriptor: MethodDescriptor(fullyQualifiedService: "canopy.v1.Canopy", method: "Nope"),
                        serializer: RawBytesSerializer(), deserializer: ProtobufCDeserializer<CanopyV1.HealthResponse>(),
                        options: .defaults) { try $0.message }
                } throws: { ($0 as? RPCError)?.code == .unimplemented }
            }
        }
    }

    @Test func oversizedRequestIsResourceExhausted() async throws {
        try await RPCFixtures.withServer(clientMaxMessageBytes: 16 << 20) { _, client, _, _ in
            let text = String(repeating: "a", count: (4 << 20) + 1)
            await #expect { try await client.tokenize(.init(text: text)) } throws: {
                ($0 as? RPCError)?.code == .resourceExhausted
            }
            // The connection still serves other calls.
            let health = try await client.health()
            #expect(health.status == .serving)
        }
    }

    @Test func fullQueueIsResourceExhaustedAndShutdownIsUnavailable() async throws {
        var config = RPCFixtures.engineConfig
        config.maxWaitingRequests = 0
        try await RPCFixtures.withServer(config: config) { _, client, engine, _ in
            await #expect { try await client.generate(.init(input: .prompt("Hi"))) } throws: {
                ($0 as? RPCError)?.code == .resourceExhausted && ($0 as! RPCError).message.contains("queue is full")
            }
            engine.shutdown()
            await #expect { try await client.generate(.init(input: .prompt("Hi"))) } throws: {
                ($0 as? RPCError)?.code == .unavailable
            }
        }
    }

    @Test func clientCancellationCancelsTheRequestAndFreesItsBlocks() async throws {
        try await RPCFixtures.withServer { _, client, engine, _ in
            var message = CanopyV1.GenerateRequest(input: .prompt("Write a very long story about a lighthouse keeper."))
            message.sampling.temperature = 0
            message.stop.maxTokens = 1000
            message.stop.ignoreEOS = true
            let (tokens, tokenSeen) = AsyncStream<Void>.makeStream()
            let call = Task {
                try await client.generate(message) { event in
                    if case .token = event { tokenSeen.yield() }
                }
            }
            var seen = 0
            for await _ in tokens {
                seen += 1
                if seen == 3 { break }
            }
            #expect(engine.metrics().kv.usedBlocks > 0)
            call.cancel()
            let result = await call.result
            #expect(throws: (any Error).self) { try result.get() }
            #expect(try await RPCFixtures.eventually { engine.metrics().requestsCancelled == 1 })
            engine.waitUntilIdle()
            let metrics = engine.metrics()
            #expect(metrics.kv.usedBlocks == 0)
            #expect(metrics.kv.freeBlocks == metrics.kv.totalBlocks)
            #expect(metrics.runningSequences == 0 && metrics.waitingSequences == 0)
            #expect(metrics.generatedTokens < 1000)
            #expect(engine.kvInvariantViolations().isEmpty)
            let stats = try await client.stats()
            #expect(stats.requestsCancelled == 1 && stats.kv.usedBlocks == 0)
        }
    }

    @Test func gracefulShutdownLetsARunningGenerationFinish() async throws {
        let engine = try Engine(loaded: try RPCFixtures.model(), config: RPCFixtures.engineConfig)
        defer { engine.shutdown(drain: false) }
        let path = RPCFixtures.socketPath()
        defer { unlink(path) }
        let server = CanopyServer(engine: engine, socketPath: path)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            _ = try await server.listeningAddress
            try await CanopyClient.withClient(socketPath: path) { client in
                var message = CanopyV1.GenerateRequest(input: .prompt("Count to twenty:"))
                message.sampling.temperature = 0
                message.stop.maxTokens = 40
                message.stop.ignoreEOS = true
                let (started, startedSignal) = AsyncStream<Void>.makeStream()
                let call = Task {
                    try await client.generate(message) { event in
                        if case .token = event { startedSignal.yield() }
                    }
                }
                for await _ in started { break }
                server.beginShutdown()
                #expect(server.service.state.isDraining)
                let summary = try await call.value
                #expect(summary.samples.first?.tokenIDs.count == 40)
                #expect(summary.samples.first?.finishReason == .length)
            }
            try await group.waitForAll()  // run() returned
        }
    }
}

/// Collects streamed events across the client's callback.
actor EventLog {
    private(set) var events: [CanopyV1.GenerateEvent] = []
    func append(_ event: CanopyV1.GenerateEvent) { events.append(event) }
}
