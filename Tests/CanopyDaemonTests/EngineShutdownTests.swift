import CanopyDaemon
import CanopyEngine
import CanopyModel
import Foundation
import Testing

/// `GracefulShutdown` driving the real engine the way canopyd does on SIGTERM:
/// drain = `shutdown(drain: true)`, force = `shutdown(drain: false)` from another thread.
@Suite(.serialized) struct EngineShutdownTests {
    static let modelPath: String = ProcessInfo.processInfo.environment["CANOPY_MODEL"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    private func engine() throws -> Engine {
        guard FileManager.default.fileExists(atPath: Self.modelPath) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: Self.modelPath + " (run `make model` or set CANOPY_MODEL)"])
        }
        let loaded = try ModelLoadProgress(path: Self.modelPath, sink: { _ in }).run { try LoadedModel(path: Self.modelPath) }
        var config = try DaemonConfig.load(configFile: nil, flags: [("model", Self.modelPath), ("kv-cache-memory", "16M")])
        config.engine.defaultMaxTokens = nil
        return try Engine(loaded: loaded, config: config.engineConfig)
    }

    private func request(maxTokens: Int) -> Request {
        var request = Request(id: "r", prompt: .text("Once upon a time"))
        request.sampling.temperature = 0
        request.stop.maxTokens = maxTokens
        request.stop.ignoreEndOfGeneration = true
        return request
    }

    /// Collects the finish reason from the event callback.
    private final class Finish: @unchecked Sendable {
        // Written once by the engine thread before `done` is signalled; read after the wait.
        var reason: FinishReason?
        var tokens = 0
        let done = DispatchSemaphore(value: 0)
        let firstToken = DispatchSemaphore(value: 0)
    }

    private func submit(_ engine: Engine, maxTokens: Int) throws -> Finish {
        let finish = Finish()
        _ = try engine.submit(request(maxTokens: maxTokens)) { event in
            switch event {
            case .token:
                finish.tokens += 1
                if finish.tokens == 1 { finish.firstToken.signal() }
            case .finished(_, let reason): finish.reason = reason
            case .completed: finish.done.signal()
            }
        }
        return finish
    }

    @Test func runningRequestFinishesWithinTheGracePeriod() throws {
        let engine = try engine()
        let finish = try submit(engine, maxTokens: 4)
        #expect(finish.firstToken.wait(timeout: .now() + 60) == .success)
        let outcome = GracefulShutdown(gracePeriod: .seconds(120)).run(
            drain: { engine.shutdown(drain: true) }, force: { engine.shutdown(drain: false) })
        #expect(outcome == .drained)
        #expect(finish.done.wait(timeout: .now() + 5) == .success)
        #expect(finish.reason == .length)
        #expect(finish.tokens == 4)
        #expect(throws: EngineError.shuttingDown) { _ = try engine.submit(request(maxTokens: 1)) }
    }

    @Test func requestOutlastingTheGracePeriodIsCancelled() throws {
        let engine = try engine()
        let finish = try submit(engine, maxTokens: 700)
        #expect(finish.firstToken.wait(timeout: .now() + 60) == .success)
        let outcome = GracefulShutdown(gracePeriod: .milliseconds(100), forceTimeout: .seconds(30)).run(
            drain: { engine.shutdown(drain: true) }, force: { engine.shutdown(drain: false) })
        #expect(outcome == .forced)
        #expect(finish.done.wait(timeout: .now() + 5) == .success)
        #expect(finish.reason == .cancelled)
    }
}
