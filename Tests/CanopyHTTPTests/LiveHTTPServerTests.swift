import CanopyEngine
import CanopyModel
import CanopyRPC
import CanopyTestFixtures
import Foundation
import Testing

@testable import CanopyHTTP

/// The HTTP front served on a real loopback TCP socket and called as any client calls it
/// (`RawHTTPClient`: bytes on a socket, nothing of ours in between): answers match what the
/// engine computes for the same request in process, streamed text equals the whole answer,
/// errors carry their status and OpenAI's error shape, and a client that hangs up
/// mid-stream gets its request cancelled and its KV blocks freed, the server serving on.
@Suite(.serialized) struct LiveHTTPServerTests {
    static let modelPath = FixturePaths.defaultModel
    private static let shared = Result { try LoadedModel(path: modelPath) }

    /// Runs `body` against a fresh engine served over HTTP on a free loopback port.
    static func withServer(_ body: @Sendable (RawHTTPClient, Engine) async throws -> Void) async throws {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: modelPath + " is missing (run `make model`)"])
        }
        var config = EngineConfig()
        config.kvCacheMemory = 64 << 20
        let engine = try Engine(loaded: try shared.get(), config: config)
        defer { engine.shutdown(drain: false) }
        let server = CanopyHTTPServer(service: CanopyService(engine: engine), address: .tcp(host: "127.0.0.1", port: 0))
        // The server's task needs a thread of the cooperative pool, which the suites running
        // beside this one can hold with model work for minutes on 2 cores.
        let task = try await server.start(timeout: .seconds(600))
        defer { task.cancel() }
        let port = try #require(server.listeningPort)
        try await body(RawHTTPClient(port: port), engine)
    }

    /// Runs a blocking socket exchange on a thread of its own, off the cooperative pool the
    /// server's handlers need.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    static func json(_ object: [String: Any]) throws -> Data { try JSONSerialization.data(withJSONObject: object) }

    static let prompt = "The three primary colours are"

    /// The greedy completion the engine computes in process for `prompt`, as text.
    static func inProcessGreedy(_ engine: Engine, maxTokens: Int) async throws -> (text: String, tokens: Int) {
        var request = CanopyEngine.Request(id: "reference", prompt: .text(prompt), sampling: engine.samplingDefaults.params)
        request.sampling.temperature = 0
        request.stop.maxTokens = maxTokens
        let (_, events) = try engine.submit(request)
        for await event in events {
            if case .completed(let output) = event { return (output.samples[0].text, output.samples[0].tokenIDs.count) }
        }
        throw CancellationError()
    }

    @Test func completionsWholeAndStreamedEqualTheEngineInProcess() async throws {
        try await Self.withServer { client, engine in
            let reference = try await Self.inProcessGreedy(engine, maxTokens: 12)
            let body = try Self.json(["prompt": Self.prompt, "max_tokens": 12, "temperature": 0])
            let whole = try await Self.blocking { try client.send("POST", "/v1/completions", body: body) }
            #expect(whole.status == 200)
            #expect(whole.headers["content-type"] == "application/json")
            let json = try whole.json()
            let choices = try #require(json["choices"] as? [[String: Any]])
            #expect(choices.count == 1)
            #expect(choices[0]["text"] as? String == reference.text)
            let usage = try #require(json["usage"] as? [String: Any])
            #expect(usage["completion_tokens"] as? Int == reference.tokens)

            let streamed = try Self.json(["prompt": Self.prompt, "max_tokens": 12, "temperature": 0, "stream": true])
            let events = try await Self.blocking { try client.send("POST", "/v1/completions", body: streamed) }
            #expect(events.status == 200)
            #expect(events.headers["content-type"] == "text/event-stream")
            #expect(events.events.last == "[DONE]")
            var text = ""
            var finishReasons: [String] = []
            for payload in events.events.dropLast() {
                let chunk = try #require(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])
                for choice in try #require(chunk["choices"] as? [[String: Any]]) {
                    text += choice["text"] as? String ?? ""
                    if let reason = choice["finish_reason"] as? String { finishReasons.append(reason) }
                }
            }
            #expect(text == reference.text)
            #expect(finishReasons.count == 1)
        }
    }

    @Test func errorsCarryTheirStatusAndTheServerServesOn() async throws {
        try await Self.withServer { client, engine in
            let health = try await Self.blocking { try client.send("GET", "/health") }
            #expect(health.status == 200)
            #expect(try health.json()["status"] as? String == "serving")

            let missing = try await Self.blocking { try client.send("GET", "/v1/nothing-here") }
            #expect(missing.status == 404)

            let notJSON = try await Self.blocking { try client.send("POST", "/v1/completions", body: Data("{\"prompt\": ".utf8)) }
            #expect(notJSON.status == 400)
            let error = try #require(try notJSON.json()["error"] as? [String: Any])
            #expect(error["type"] as? String == "invalid_request_error")

            let badRange = try Self.json(["prompt": Self.prompt, "temperature": -1])
            let refused = try await Self.blocking { try client.send("POST", "/v1/completions", body: badRange) }
            #expect(refused.status == 400)
            let refusal = try #require(try refused.json()["error"] as? [String: Any])
            #expect((refusal["message"] as? String)?.contains("temperature") == true)

            let models = try await Self.blocking { try client.send("GET", "/v1/models") }
            #expect(models.status == 200)
            let listed = try models.json()["data"] as? [[String: Any]]
            #expect(listed?.count == 1)
            #expect(engine.metrics().kv.usedBlocks == 0)
        }
    }

    @Test func aClientThatHangsUpMidStreamIsCancelledAndItsBlocksFreed() async throws {
        try await Self.withServer { client, engine in
            let long = try Self.json([
                "prompt": Self.prompt, "max_tokens": 1000, "temperature": 0, "ignore_eos": true, "stream": true,
            ])
            // Headers and a few token events, then gone (1000 tokens fit the 64 MiB arena, which
            // holds about 2,900 of this model's).
            try await Self.blocking { try client.sendAndHangUp("POST", "/v1/completions", body: long, after: 600) }
            var cancelled = false
            for _ in 0..<3000 where !cancelled {
                cancelled = engine.metrics().requestsCancelled == 1
                if !cancelled { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(cancelled, "the engine still runs the request of a client that hung up")
            engine.waitUntilIdle()
            #expect(engine.metrics().kv.usedBlocks == 0)
            #expect(engine.metrics().requestsCompleted == 0)

            let body = try Self.json(["prompt": Self.prompt, "max_tokens": 4, "temperature": 0])
            let next = try await Self.blocking { try client.send("POST", "/v1/completions", body: body) }
            #expect(next.status == 200)
        }
    }
}
