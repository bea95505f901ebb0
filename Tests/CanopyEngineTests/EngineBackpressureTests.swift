import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

@testable import CanopyEngine

/// A reader that does not keep up with its event stream holds back its own request, not the
/// engine: the request stops decoding `maxBufferedEvents` events ahead of its reader (so it
/// costs a bounded buffer, not `max_tokens` events), others go on, reading resumes it with
/// the tokens it would have had anyway, and a reader that takes nothing for
/// `stalledReaderTimeout` has its request cancelled and its blocks freed.
@Suite(.serialized)
struct EngineBackpressureTests {
    private func longRequest(_ id: String, maxTokens: Int) -> Request {
        var request = greedyRequest(id, ids: [1, 9690, 198, 22234, 260, 1789, 2797], maxTokens: maxTokens)
        request.stop.ignoreEndOfGeneration = true
        return request
    }

    /// Polls `condition` every 10 ms for up to `seconds` (scaled by `TestTimeouts`).
    private func eventually(_ seconds: Double, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date(timeIntervalSinceNow: TestTimeouts.seconds(seconds))
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test func aReaderThatFallsBehindPausesOnlyItsOwnRequest() async throws {
        let loaded = try EngineFixtures.model()
        var config = EngineConfig()
        config.maxBufferedEvents = 8
        config.stalledReaderTimeout = nil
        let engine = try Engine(loaded: loaded, config: config)
        defer { engine.shutdown(drain: false) }
        let expected = try engine.run(longRequest("alone", maxTokens: 48)).samples[0].tokenIDs
        engine.waitUntilIdle()
        let before = engine.metrics().generatedTokens

        let (_, events) = try engine.submit(longRequest("slow", maxTokens: 48))
        // Nobody reads: the request decodes up to the limit and then waits, holding its blocks.
        #expect(try await eventually(30) { engine.metrics().generatedTokens - before >= 8 })
        try await Task.sleep(for: .milliseconds(300))
        let paused = engine.metrics()
        #expect(paused.generatedTokens - before == 8, "\(paused.generatedTokens - before) tokens decoded for an unread stream")
        #expect(paused.runningSequences == 1 && paused.kv.usedBlocks > 0)

        // Another request meanwhile runs to the end.
        let other = try engine.run(longRequest("other", maxTokens: 16))
        #expect(other.samples[0].tokenIDs == Array(expected.prefix(16)))

        // Reading resumes it; pausing changed nothing in what it generates.
        var tokens: [Int32] = []
        var completed: RequestOutput?
        for await event in events {
            if case .token(let output) = event { tokens.append(output.token.id) }
            if case .completed(let output) = event { completed = output }
        }
        #expect(tokens == expected)
        #expect(completed?.samples[0].tokenIDs == expected)
        engine.waitUntilIdle()
        #expect(engine.metrics().kv.usedBlocks == 0)
        #expect(engine.kvInvariantViolations().isEmpty)
    }

    @Test func aReaderThatReadsNothingIsCancelledAfterTheTimeout() async throws {
        let loaded = try EngineFixtures.model()
        var config = EngineConfig()
        config.maxBufferedEvents = 4
        config.stalledReaderTimeout = 0.3
        let engine = try Engine(loaded: loaded, config: config)
        defer { engine.shutdown(drain: false) }
        let (_, events) = try engine.submit(longRequest("stalled", maxTokens: 200))
        #expect(try await eventually(30) { engine.metrics().requestsCancelled == 1 })
        let metrics = engine.metrics()
        #expect(metrics.generatedTokens == 4 && metrics.kv.usedBlocks == 0 && metrics.runningSequences == 0)
        // What was produced is still there to read, ending with the cancellation.
        var last: EngineEvent?
        var count = 0
        for await event in events {
            last = event
            count += 1
        }
        guard case .completed(let output) = last else {
            Issue.record("the stream did not end with .completed")
            return
        }
        #expect(output.samples[0].finishReason == .cancelled && output.samples[0].tokenIDs.count == 4)
        #expect(count == 4 + 2)  // four tokens, the sample's end, the summary
        #expect(engine.kvInvariantViolations().isEmpty)
    }
}
