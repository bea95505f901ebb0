import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The HTTP side of `canopy bench --http URL`: streams OpenAI completions (`/v1/completions`
/// with token-id prompts, `stream: true`) from any server that speaks that API (canopyd's
/// `--http`, llama-server, vLLM) and times their server-sent events, so one load generator
/// gives side-by-side figures.
///
/// Each `data:` event whose choice carries text counts as one token arrival (llama-server,
/// vLLM and canopyd send one event per token; canopyd holds back a token whose text is not
/// yet final, such as half a UTF-8 character, and sends it with the next). Output tokens are
/// the server's `usage` when it sends one, else the arrivals.
final class HTTPBenchClient: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let base: URL
    private let apiKey: String?
    private var session: URLSession!
    // Guarded by `lock`: the state of each running task, by task identifier.
    private let lock = NSLock()
    private var running: [Int: Stream] = [:]

    /// What arrived on one response.
    final class Stream: @unchecked Sendable {
        var status = 0
        var pending = Data()
        var body = Data()
        var arrivals: [ContinuousClock.Instant] = []
        var promptTokens: Int?
        var completionTokens: Int?
        var sawDone = false
        var continuation: CheckedContinuation<Void, any Error>?
    }

    /// A client of the server at `base` (e.g. `http://127.0.0.1:8080`; a trailing `/v1` is
    /// dropped) with up to `concurrency` connections.
    init(base: URL, apiKey: String?, concurrency: Int) {
        var root = base.absoluteString
        while root.hasSuffix("/") { root.removeLast() }
        if root.hasSuffix("/v1") { root.removeLast(3) }
        self.base = URL(string: root) ?? base
        self.apiKey = apiKey
        super.init()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = max(concurrency, 1)
        configuration.timeoutIntervalForRequest = 600
        configuration.timeoutIntervalForResource = 3600
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
    }

    /// The server's token ids for `text` (`POST /tokenize`, which llama-server, vLLM and
    /// canopyd answer), without BOS.
    func tokenize(_ text: String) async throws -> [Int32] {
        var request = makeRequest("/tokenize")
        request.httpBody = try JSONSerialization.data(withJSONObject: ["content": text, "prompt": text, "add_special": false])
        let stream = try await run(request)
        guard stream.status == 200,
              let object = try? JSONSerialization.jsonObject(with: stream.body) as? [String: Any],
              let tokens = object["tokens"] as? [Any]
        else {
            throw CommandFailure("\(base)/tokenize answered \(stream.status): \(String(decoding: stream.body.prefix(300), as: UTF8.self))")
        }
        return tokens.compactMap { ($0 as? NSNumber).map { Int32(truncating: $0) } }
    }

    /// Streams one completion of `prompt` and times it.
    func complete(prompt: [Int32], maxTokens: Int, temperature: Float, seed: UInt64) async -> RequestTrace {
        var request = makeRequest("/v1/completions")
        let body: [String: Any] = [
            "model": "bench", "prompt": prompt.map { Int($0) }, "max_tokens": maxTokens, "temperature": Double(temperature),
            "seed": Int(truncatingIfNeeded: seed & 0x7fff_ffff), "ignore_eos": true, "stream": true,
            "stream_options": ["include_usage": true],
        ]
        var trace = RequestTrace()
        let start = ContinuousClock.now
        do {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            let stream = try await run(request)
            trace.endToEnd = BenchRunner.seconds(ContinuousClock.now - start)
            guard stream.status == 200 else {
                trace.error = "HTTP \(stream.status): \(String(decoding: stream.body.prefix(300), as: UTF8.self))"
                return trace
            }
            guard stream.sawDone else {
                trace.error = "the stream ended without data: [DONE]"
                return trace
            }
            trace.promptTokens = stream.promptTokens ?? prompt.count
            trace.outputTokens = stream.completionTokens ?? stream.arrivals.count
            if let first = stream.arrivals.first { trace.timeToFirstToken = BenchRunner.seconds(first - start) }
            trace.interTokenGaps = zip(stream.arrivals.dropFirst(), stream.arrivals).map { BenchRunner.seconds($0 - $1) }
        } catch {
            trace.error = "\(error)"
        }
        return trace
    }

    private func makeRequest(_ path: String) -> URLRequest {
        var request = URLRequest(url: base.appendingPathComponent(path))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        return request
    }

    private func run(_ request: URLRequest) async throws -> Stream {
        let stream = Stream()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let task = session.dataTask(with: request)
            stream.continuation = continuation
            lock.withLock { running[task.taskIdentifier] = stream }
            task.resume()
        }
        return stream
    }

    private func stream(for task: URLSessionTask) -> Stream? {
        lock.withLock { running[task.taskIdentifier] }
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        stream(for: dataTask)?.status = (response as? HTTPURLResponse)?.statusCode ?? 0
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let now = ContinuousClock.now
        guard let stream = stream(for: dataTask) else { return }
        guard stream.status == 200, dataTask.originalRequest?.url?.path.hasSuffix("/completions") == true else {
            stream.body.append(data)
            return
        }
        stream.pending.append(data)
        // Events are separated by a blank line; each of ours is one `data:` line.
        while let end = stream.pending.range(of: Data("\n\n".utf8)) {
            let event = stream.pending.subdata(in: stream.pending.startIndex..<end.lowerBound)
            stream.pending.removeSubrange(stream.pending.startIndex..<end.upperBound)
            Self.parse(event, into: stream, at: now)
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let stream = lock.withLock({ running.removeValue(forKey: task.taskIdentifier) }) else { return }
        if let error {
            stream.continuation?.resume(throwing: error)
        } else {
            stream.continuation?.resume()
        }
        stream.continuation = nil
    }

    /// Reads one server-sent event: a token arrival when a choice has text, the usage when
    /// the event carries it, `[DONE]` at the end.
    private static func parse(_ event: Data, into stream: Stream, at now: ContinuousClock.Instant) {
        for line in String(decoding: event, as: UTF8.self).split(separator: "\n") where line.hasPrefix("data:") {
            let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
            if payload == "[DONE]" {
                stream.sawDone = true
                continue
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { continue }
            if let choices = object["choices"] as? [[String: Any]],
               choices.contains(where: { ($0["text"] as? String).map { !$0.isEmpty } ?? false }) {
                stream.arrivals.append(now)
            }
            if let usage = object["usage"] as? [String: Any] {
                stream.promptTokens = (usage["prompt_tokens"] as? NSNumber)?.intValue
                stream.completionTokens = (usage["completion_tokens"] as? NSNumber)?.intValue
            }
        }
    }
}
