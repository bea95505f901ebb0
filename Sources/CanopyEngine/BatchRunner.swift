import Foundation

/// Runs `canopy batch`: one JSON request per input line, one JSON result per output line,
/// in input order.
///
/// A bad line produces `{"id", "error"}` and the remaining lines still run. Blank lines are
/// skipped.
public struct BatchRunner {
    /// The generator requests run on.
    public let generator: Generator

    /// Creates a runner; requests without `max_tokens` get `generator.defaultMaxTokens`.
    public init(generator: Generator) {
        self.generator = generator
    }

    /// Runs one input line and returns its result line (without a newline), or `nil` for a
    /// blank line.
    public func run(line: String, lineNumber: Int) -> String? {
        guard !line.allSatisfy(\.isWhitespace) else { return nil }
        let (id, decoded) = BatchRequestDecoder.decode(line, lineNumber: lineNumber)
        switch decoded {
        case .failure(let error):
            return Self.encode(["id": id, "error": error.description])
        case .success(let request):
            do {
                let completion = try generator.generate(request)
                return Self.encode([
                    "id": id,
                    "token_ids": completion.tokenIDs.map { Int($0) },
                    "text": completion.text,
                    "finish_reason": completion.finishReason.rawValue,
                    "usage": [
                        "prompt_tokens": completion.promptTokenIDs.count,
                        "completion_tokens": completion.tokenIDs.count,
                    ],
                ])
            } catch {
                return Self.encode(["id": id, "error": error.description])
            }
        }
    }

    /// Serialises a result object with sorted keys, so output is stable.
    static func encode(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
              let text = String(data: data, encoding: .utf8)
        else { return #"{"error":"internal error: result could not be encoded"}"# }
        return text
    }
}
