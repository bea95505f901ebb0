import Foundation

/// The HTTP side of `canopy bench --http URL`: streams OpenAI completions (`/v1/completions`
/// with token-id prompts, `stream: true`) from any server that speaks that API (canopyd's
/// `--http`, llama-server, vLLM) and times their server-sent events, so one load generator
/// gives side-by-side figures.
///
/// Each request gets its own connection and its own thread blocked in `read(2)`: the load
/// generator shares the machine with the server it measures, so it must cost next to nothing
/// (URLSession's libcurl loop took most of a core at 32 streams here). Each `data:` event
/// whose choice carries text counts as one token arrival (llama-server, vLLM and canopyd send
/// one event per token; canopyd holds back a token whose text is not yet final, such as half
/// a UTF-8 character, and sends it with the next). Output tokens are the server's `usage`
/// when it sends one, else the arrivals.
struct HTTPBenchClient: Sendable {
    private let host: String
    private let port: UInt16
    private let apiKey: String?

    /// A client of the server at `base` (`http://HOST:PORT`; a path such as `/v1` is ignored).
    init(base: URL, apiKey: String?) throws {
        guard base.scheme == "http", let host = base.host, !host.isEmpty else {
            throw CommandFailure("--http wants a plain http://HOST:PORT URL, got \(base.absoluteString)")
        }
        self.host = host == "localhost" ? "127.0.0.1" : host
        port = UInt16(base.port ?? 80)
        self.apiKey = apiKey
    }

    /// The server's token ids for `text` (`POST /tokenize`, which llama-server, vLLM and
    /// canopyd answer), without BOS.
    func tokenize(_ text: String) async throws -> [Int32] {
        let body = try JSONSerialization.data(withJSONObject: ["content": text, "prompt": text, "add_special": false])
        let response = try await exchange(path: "/tokenize", body: body, streaming: false)
        guard response.status == 200,
              let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
              let tokens = object["tokens"] as? [Any]
        else {
            throw CommandFailure("\(host):\(port)/tokenize answered \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
        return tokens.compactMap { ($0 as? NSNumber).map { Int32(truncating: $0) } }
    }

    /// Streams one completion of `prompt` and times it.
    func complete(prompt: [Int32], maxTokens: Int, temperature: Float, seed: UInt64) async -> RequestTrace {
        let body: [String: Any] = [
            "model": "bench", "prompt": prompt.map { Int($0) }, "max_tokens": maxTokens, "temperature": Double(temperature),
            "seed": Int(truncatingIfNeeded: seed & 0x7fff_ffff), "ignore_eos": true, "stream": true,
            "stream_options": ["include_usage": true],
        ]
        var trace = RequestTrace()
        let start = ContinuousClock.now
        do {
            let response = try await exchange(
                path: "/v1/completions", body: try JSONSerialization.data(withJSONObject: body), streaming: true)
            trace.endToEnd = BenchRunner.seconds(ContinuousClock.now - start)
            guard response.status == 200 else {
                trace.error = "HTTP \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))"
                return trace
            }
            guard response.sawDone else {
                trace.error = "the stream ended without data: [DONE]"
                return trace
            }
            trace.promptTokens = response.promptTokens ?? prompt.count
            trace.outputTokens = response.completionTokens ?? response.arrivals.count
            if let first = response.arrivals.first { trace.timeToFirstToken = BenchRunner.seconds(first - start) }
            trace.interTokenGaps = zip(response.arrivals.dropFirst(), response.arrivals).map { BenchRunner.seconds($0 - $1) }
        } catch {
            trace.error = "\(error)"
        }
        return trace
    }

    /// Sends one POST on a new connection, on a thread of its own, and reads the response.
    private func exchange(path: String, body: Data, streaming: Bool) async throws -> HTTPBenchResponse {
        var head = "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: application/json\r\n"
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n"
        if let apiKey { head += "Authorization: Bearer \(apiKey)\r\n" }
        let request = Data((head + "\r\n").utf8) + body
        let (host, port) = (host, port)
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try HTTPBenchResponse.read(host: host, port: port, request: request, streaming: streaming))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
}
