import CanopyTokenizer
import Foundation

/// Decodes one line of `canopy batch` input into a `Request`.
///
/// A line is a JSON object with an `id` (any JSON value, echoed back) and exactly one of
/// `prompt` (string), `prompt_ids` (array of integers) or `messages` (array of
/// `{"role", "content"}`), plus optional `max_tokens`, `temperature`, `top_k`, `top_p`,
/// `min_p`, `seed`, `repetition_penalty`, `frequency_penalty`, `presence_penalty`, `n`,
/// `logprobs`, `stop` (string or array of strings), `stop_token_ids` and `ignore_eos`.
/// Unknown keys are rejected so a misspelt parameter is not silently ignored. Sampling
/// parameters a line leaves out take the model's `SamplingDefaults`.
public enum BatchRequestDecoder {
    /// Keys a request line may carry.
    public static let knownKeys: Set<String> = [
        "id", "prompt", "prompt_ids", "messages", "max_tokens", "temperature", "top_k", "top_p",
        "min_p", "seed", "stop", "stop_token_ids", "ignore_eos", "repetition_penalty",
        "frequency_penalty", "presence_penalty", "n", "logprobs", "apar", "apar_max_depth", "apar_max_branches",
    ]

    /// Why a line is not a valid request.
    public struct DecodeError: Error, CustomStringConvertible {
        /// What is wrong, for the result line's `error` field.
        public var description: String
    }

    /// Parses `line`, starting from `defaults` for the sampling parameters it leaves out. On
    /// failure the error carries the line's `id` when one could be read.
    public static func decode(
        _ line: String, lineNumber: Int, defaults: SamplingDefaults
    ) -> (id: Any, result: Result<Request, DecodeError>) {
        let fallbackID: Any = lineNumber
        guard let data = line.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        else { return (fallbackID, .failure(DecodeError(description: "line \(lineNumber) is not valid JSON"))) }
        guard let fields = object as? [String: Any] else {
            return (fallbackID, .failure(DecodeError(description: "line \(lineNumber) is not a JSON object")))
        }
        let id = fields["id"] ?? fallbackID
        do {
            return (id, .success(try request(from: fields, id: id, defaults: defaults)))
        } catch {
            return (id, .failure(error))
        }
    }

    private static func request(from fields: [String: Any], id: Any, defaults: SamplingDefaults) throws(DecodeError) -> Request {
        let unknown = Set(fields.keys).subtracting(knownKeys)
        guard unknown.isEmpty else {
            throw DecodeError(description: "unknown field(s) \(unknown.sorted().joined(separator: ", ")); known: \(knownKeys.sorted().joined(separator: ", "))")
        }
        let inputs = ["prompt", "prompt_ids", "messages"].filter { fields[$0] != nil }
        guard inputs.count == 1 else {
            throw DecodeError(description: "give exactly one of prompt, prompt_ids or messages (got \(inputs.isEmpty ? "none" : inputs.joined(separator: ", ")))")
        }
        let prompt: Request.Prompt
        if let value = fields["prompt"] {
            guard let text = value as? String else { throw DecodeError(description: "prompt must be a string") }
            prompt = .text(text)
        } else if let value = fields["prompt_ids"] {
            guard let ids = integers(value) else {
                throw DecodeError(description: "prompt_ids must be an array of integers")
            }
            prompt = .tokenIDs(ids.map { Int32(clamping: $0) })
        } else {
            guard let list = fields["messages"] as? [Any] else {
                throw DecodeError(description: "messages must be an array of {\"role\", \"content\"} objects")
            }
            var messages: [ChatMessage] = []
            for (i, item) in list.enumerated() {
                guard let message = item as? [String: Any], let role = message["role"] as? String,
                      let content = message["content"] as? String
                else { throw DecodeError(description: "messages[\(i)] must be {\"role\": string, \"content\": string}") }
                messages.append(ChatMessage(role: role, content: content))
            }
            prompt = .messages(messages)
        }

        var sampling = defaults.params
        var stop = StopParams()
        if let v = fields["temperature"] { sampling.temperature = try Float(number(v, "temperature")) }
        if let v = fields["top_k"] { sampling.topK = try integer(v, "top_k") }
        if let v = fields["top_p"] { sampling.topP = try Float(number(v, "top_p")) }
        if let v = fields["min_p"] { sampling.minP = try Float(number(v, "min_p")) }
        if let v = fields["seed"] { sampling.seed = UInt64(bitPattern: Int64(try integer(v, "seed"))) }
        if let v = fields["repetition_penalty"] { sampling.repetitionPenalty = try Float(number(v, "repetition_penalty")) }
        if let v = fields["frequency_penalty"] { sampling.frequencyPenalty = try Float(number(v, "frequency_penalty")) }
        if let v = fields["presence_penalty"] { sampling.presencePenalty = try Float(number(v, "presence_penalty")) }
        if let v = fields["n"] { sampling.n = try integer(v, "n") }
        if let v = fields["logprobs"] { sampling.logprobs = try integer(v, "logprobs") }
        if let v = fields["max_tokens"] { stop.maxTokens = try integer(v, "max_tokens") }
        if let v = fields["stop"] {
            if let one = v as? String {
                stop.stopStrings = [one]
            } else if let many = v as? [String] {
                stop.stopStrings = many
            } else {
                throw DecodeError(description: "stop must be a string or an array of strings")
            }
        }
        if let v = fields["stop_token_ids"] {
            guard let ids = integers(v) else { throw DecodeError(description: "stop_token_ids must be an array of integers") }
            stop.stopTokenIDs = Set(ids.map { Int32(clamping: $0) })
        }
        if let v = fields["ignore_eos"] {
            guard let n = v as? NSNumber, isBoolean(n) else { throw DecodeError(description: "ignore_eos must be true or false") }
            stop.ignoreEndOfGeneration = n.boolValue
        }
        var request = Request(id: "\(id)", prompt: prompt, sampling: sampling, stop: stop)
        if let v = fields["apar"] {
            guard let n = v as? NSNumber, isBoolean(n) else { throw DecodeError(description: "apar must be true or false") }
            request.parallel.enabled = n.boolValue
        }
        if let v = fields["apar_max_depth"] { request.parallel.maxDepth = try integer(v, "apar_max_depth") }
        if let v = fields["apar_max_branches"] { request.parallel.maxBranches = try integer(v, "apar_max_branches") }
        return request
    }

    private static func number(_ value: Any, _ name: String) throws(DecodeError) -> Double {
        guard let n = value as? NSNumber, !isBoolean(n) else {
            throw DecodeError(description: "\(name) must be a number")
        }
        return n.doubleValue
    }

    /// JSON `true`/`false` arrive as NSNumber too; Foundation marks them with the `c` type.
    private static func isBoolean(_ n: NSNumber) -> Bool {
        String(cString: n.objCType) == "c"
    }

    private static func integer(_ value: Any, _ name: String) throws(DecodeError) -> Int {
        let d = try number(value, name)
        guard d.rounded() == d, abs(d) < 9.0e15 else { throw DecodeError(description: "\(name) must be an integer") }
        return Int(d)
    }

    private static func integers(_ value: Any) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var result: [Int] = []
        for item in list {
            guard let d = try? integer(item, ""), d >= Int(Int32.min), d <= Int(Int32.max) else { return nil }
            result.append(d)
        }
        return result
    }
}
