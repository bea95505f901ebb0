import CanopyKV
import CanopyKernels
@testable import CanopyEngine
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

/// Fixtures and the default model for engine tests.
enum EngineFixtures {
    static let directory = FixturePaths.directory
    static let modelPath = FixturePaths.defaultModel
    private static let shared = Result { try LoadedModel(path: modelPath) }

    /// The default model, or an error saying how to get it.
    static func model() throws -> LoadedModel {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: modelPath + " (run `make model`)"])
        }
        return try shared.get()
    }

    /// An engine core on the default model with its own 256-block KV cache (prefix caching
    /// off), for tests that drive steps one by one.
    static func core(_ config: EngineConfig) throws -> (EngineCore, LoadedModel) {
        let loaded = try model()
        let c = loaded.config
        var config = config
        config.prefixCaching = false
        let layout = PagedKVLayout(
            blockSize: config.blockSize, layers: c.blockCount, kvHeads: c.headCountKV,
            headDimension: c.headDimension, precision: config.kvPrecision)
        let kv = KVCacheManager(layout: layout, blockCount: 256, prefixCaching: false)
        return (EngineCore(loaded: loaded, kv: kv, drafter: nil, config: config), loaded)
    }

    /// llama.cpp's greedy records (`Tests/Fixtures/smollm2-greedy`), as its first (AVX-512)
    /// set holds them; the prompts are the same in every set.
    static func records() throws -> [GreedyRecord] {
        try LlamaCppReference.load().machines[0].records
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

    /// Waits for `.completed` (at most `timeout` seconds, scaled by ``TestTimeouts/scale``).
    func wait(timeout: Double = 300) -> RequestOutput? {
        guard done.wait(timeout: .now() + TestTimeouts.seconds(timeout)) == .success else { return nil }
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

    /// Submits every request at once (they run concurrently) and waits for their results,
    /// in order.
    func runAll(_ requests: [Request]) throws -> [RequestOutput] {
        let collectors = requests.map { _ in EventCollector() }
        for (request, collector) in zip(requests, collectors) { try submit(request, onEvent: collector.handler) }
        return try collectors.map { try #require($0.wait()) }
    }
}

func greedyRequest(_ id: String, ids: [Int32], maxTokens: Int) -> Request {
    var request = Request(id: id, prompt: .tokenIDs(ids))
    request.sampling.temperature = 0
    request.stop.maxTokens = maxTokens
    return request
}
