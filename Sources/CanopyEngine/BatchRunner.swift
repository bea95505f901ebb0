import Foundation

/// Runs `canopy batch`: one JSON request per input line, one JSON result per output line,
/// in input order. All requests are submitted to the engine at once, so they run batched,
/// as in vLLM's offline mode.
///
/// A bad line produces `{"id", "error"}` and the remaining lines still run. Blank lines are
/// skipped.
public struct BatchRunner {
    /// The engine requests run on.
    public let engine: Engine

    /// Creates a runner; requests without `max_tokens` or sampling parameters get the
    /// engine's defaults.
    public init(engine: Engine) {
        self.engine = engine
    }

    /// Runs every line and returns the result lines (without newlines), in input order.
    public func run(lines: [String]) -> [String] {
        let results = ResultSlots(count: lines.count)
        let group = DispatchGroup()
        for (index, line) in lines.enumerated() {
            guard !line.allSatisfy(\.isWhitespace) else { continue }
            let (id, decoded) = BatchRequestDecoder.decode(line, lineNumber: index + 1, defaults: engine.samplingDefaults)
            let box = JSONValueBox(value: id)
            switch decoded {
            case .failure(let error):
                results.set(index, Self.encode(["id": id, "error": error.description]))
            case .success(let request):
                group.enter()
                do {
                    try engine.submit(request) { event in
                        guard case .completed(let output) = event else { return }
                        if let failure = output.failure {
                            results.set(index, Self.encode(["id": box.value, "error": failure.description]))
                        } else {
                            results.set(index, Self.encode(Self.resultObject(id: box.value, output)))
                        }
                        group.leave()
                    }
                } catch {
                    results.set(index, Self.encode(["id": id, "error": error.description]))
                    group.leave()
                }
            }
        }
        group.wait()
        return results.all()
    }

    /// Runs one line; convenience for tests and single requests.
    public func run(line: String) -> String? {
        run(lines: [line]).first
    }

    static func resultObject(id: Any, _ output: RequestOutput) -> [String: Any] {
        func sampleObject(_ s: SampleOutput) -> [String: Any] {
            var object: [String: Any] = [
                "token_ids": s.tokenIDs.map { Int($0) },
                "text": s.text,
                "finish_reason": s.finishReason.rawValue,
            ]
            if !s.logprobs.isEmpty {
                object["logprobs"] = s.logprobs.map { token -> [String: Any] in
                    [
                        "id": Int(token.id), "logprob": Double(token.logprob ?? 0),
                        "top": token.topLogprobs.map { ["id": Int($0.id), "logprob": Double($0.logprob)] },
                    ]
                }
            }
            if !s.branches.isEmpty {
                // APAR: "text" is the answer assembled from these.
                object["branches"] = s.branches.map { branch -> [String: Any] in
                    var object: [String: Any] = [
                        "id": branch.id, "token_ids": branch.tokenIDs.map { Int($0) }, "text": branch.text,
                        "finish_reason": branch.finishReason.rawValue,
                        "forks": branch.forks.map { ["text_offset": $0.textOffset, "child": $0.child] },
                    ]
                    if let parent = branch.parent { object["parent"] = parent }
                    return object
                }
            }
            return object
        }
        var object = sampleObject(output.samples[0])
        object["id"] = id
        if output.samples.count > 1 {
            object["samples"] = output.samples.map(sampleObject)
        }
        object["usage"] = [
            "prompt_tokens": output.metrics.promptTokens,
            "completion_tokens": output.metrics.generatedTokens,
            "cached_prompt_tokens": output.metrics.cachedPromptTokens,
            "branches": output.metrics.branches,
        ]
        return object
    }

    /// Serialises a result object with sorted keys, so output is stable.
    static func encode(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
              let text = String(data: data, encoding: .utf8)
        else { return #"{"error":"internal error: result could not be encoded"}"# }
        return text
    }
}

/// A JSON value (from JSONSerialization) carried into the engine's event handler; it is
/// only read after the handler runs, never mutated.
private struct JSONValueBox: @unchecked Sendable {
    let value: Any
}

/// Result lines filled in from the engine thread, read after all have arrived.
private final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String?]

    init(count: Int) {
        lines = Array(repeating: nil, count: count)
    }

    func set(_ index: Int, _ line: String) {
        lock.lock()
        lines[index] = line
        lock.unlock()
    }

    func all() -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines.compactMap { $0 }
    }
}
