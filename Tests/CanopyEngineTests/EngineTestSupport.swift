import CanopyEngine
import CanopyModel
import Foundation

/// Fixtures and the default model for engine tests.
enum EngineFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let modelPath: String = ProcessInfo.processInfo.environment["CANOPY_MODEL"]
        ?? directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    private static let shared = Result { try LoadedModel(path: modelPath) }

    /// The default model, or an error saying how to get it.
    static func model() throws -> LoadedModel {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: modelPath + " (run `make model`)"])
        }
        return try shared.get()
    }

    /// One record of llama.cpp's greedy reference (`Tests/Fixtures/smollm2-greedy`).
    struct Record: Decodable {
        let prompt: String
        let prompt_ids: [Int32]
        let n_predict: Int
        let greedy_ids: [Int32]
        let top5_per_step: [[[Double]]]

        /// Identical leading tokens, or nil when the first difference is not a near tie
        /// (within 0.25 of llama.cpp's top-1 in its top-5).
        func identicalPrefix(of ours: [Int32]) -> Int? {
            for step in 0..<min(ours.count, greedy_ids.count) where ours[step] != greedy_ids[step] {
                let top = top5_per_step[step]
                guard let entry = top.first(where: { Int32($0[0]) == ours[step] }), top[0][1] - entry[1] <= 0.25 else {
                    return nil
                }
                return step
            }
            return min(ours.count, greedy_ids.count)
        }
    }

    static func records() throws -> [Record] {
        let text = try String(contentsOf: directory.appendingPathComponent("smollm2-greedy/greedy.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Record.self, from: Data($0.utf8)) }
    }
}

/// Collects a request's events from the engine thread.
final class EventCollector: @unchecked Sendable {
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)
    private var events: [EngineEvent] = []
    private var output: RequestOutput?

    var handler: @Sendable (EngineEvent) -> Void {
        { [self] event in
            lock.lock()
            events.append(event)
            if case .completed(let result) = event { output = result }
            lock.unlock()
            if case .completed = event { done.signal() }
        }
    }

    /// Waits for `.completed` (at most `timeout` seconds).
    func wait(timeout: Double = 300) -> RequestOutput? {
        guard done.wait(timeout: .now() + timeout) == .success else { return nil }
        lock.lock()
        defer { lock.unlock() }
        return output
    }

    var allEvents: [EngineEvent] {
        lock.lock()
        defer { lock.unlock() }
        return events
    }
}

extension Engine {
    /// Submits and waits for the result.
    func run(_ request: Request) throws -> RequestOutput {
        let collector = EventCollector()
        try submit(request, onEvent: collector.handler)
        guard let output = collector.wait() else { throw CocoaError(.userCancelled) }
        return output
    }
}

func greedyRequest(_ id: String, ids: [Int32], maxTokens: Int) -> Request {
    var request = Request(id: id, prompt: .tokenIDs(ids))
    request.sampling.temperature = 0
    request.stop.maxTokens = maxTokens
    return request
}
