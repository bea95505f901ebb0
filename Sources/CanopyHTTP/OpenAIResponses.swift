import Foundation

/// How every body of the HTTP API is written: keys in a fixed (sorted) order, so equal
/// answers are equal bytes, and `/` left unescaped.
enum OpenAIJSON {
    /// `value` as JSON. The types here hold strings, numbers and arrays of them only, so
    /// encoding cannot fail; `{}` stands in if it ever did.
    static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }
}

// The response bodies of the OpenAI API, field for field (property names are the JSON keys).
// Optional fields encode as null where OpenAI sends null (`logprobs`, `finish_reason` of a
// chunk), so the official SDKs' models parse them.

/// Token counts of a request.
struct Usage: Encodable, Sendable {
    let prompt_tokens: Int
    let completion_tokens: Int
    let total_tokens: Int

    init(prompt: Int, completion: Int) {
        prompt_tokens = prompt
        completion_tokens = completion
        total_tokens = prompt + completion
    }
}

/// `GET /v1/models`.
struct ModelList: Encodable, Sendable {
    struct Model: Encodable, Sendable {
        let id: String
        var object = "model"
        let created: Int
        var owned_by = "canopy"
        let max_model_len: Int
    }

    var object = "list"
    let data: [Model]
}

/// The legacy completions API's log-probabilities of a choice (or of a chunk's tokens).
struct CompletionLogprobs: Encodable, Sendable {
    var tokens: [String] = []
    var token_logprobs: [Float?] = []
    var top_logprobs: [[String: Float]] = []
    var text_offset: [Int] = []
}

/// `POST /v1/completions` without streaming, and each streamed chunk (same object name,
/// as OpenAI sends them).
struct CompletionResponse: Encodable, Sendable {
    struct Choice: Encodable, Sendable {
        let index: Int
        let text: String
        let logprobs: CompletionLogprobs?
        let finish_reason: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(text, forKey: .text)
            try c.encode(logprobs, forKey: .logprobs)
            try c.encode(finish_reason, forKey: .finish_reason)
        }

        enum CodingKeys: String, CodingKey { case index, text, logprobs, finish_reason }
    }

    let id: String
    var object = "text_completion"
    let created: Int
    let model: String
    let choices: [Choice]
    let usage: Usage?
}

/// One token's log-probability in the chat API.
struct ChatTokenLogprob: Encodable, Sendable {
    struct Alternative: Encodable, Sendable {
        let token: String
        let logprob: Float
        let bytes: [UInt8]
    }

    let token: String
    let logprob: Float
    let bytes: [UInt8]
    let top_logprobs: [Alternative]
}

/// A chat choice's log-probabilities.
struct ChatLogprobs: Encodable, Sendable {
    var content: [ChatTokenLogprob] = []
}

/// `POST /v1/chat/completions` without streaming.
struct ChatCompletionResponse: Encodable, Sendable {
    struct Message: Encodable, Sendable {
        var role = "assistant"
        let content: String
    }

    struct Choice: Encodable, Sendable {
        let index: Int
        let message: Message
        let logprobs: ChatLogprobs?
        let finish_reason: String

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(message, forKey: .message)
            try c.encode(logprobs, forKey: .logprobs)
            try c.encode(finish_reason, forKey: .finish_reason)
        }

        enum CodingKeys: String, CodingKey { case index, message, logprobs, finish_reason }
    }

    let id: String
    var object = "chat.completion"
    let created: Int
    let model: String
    let choices: [Choice]
    let usage: Usage
}

/// One streamed chunk of a chat completion.
struct ChatCompletionChunk: Encodable, Sendable {
    struct Delta: Encodable, Sendable {
        var role: String?
        var content: String?
    }

    struct Choice: Encodable, Sendable {
        let index: Int
        let delta: Delta
        let logprobs: ChatLogprobs?
        let finish_reason: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(delta, forKey: .delta)
            try c.encode(logprobs, forKey: .logprobs)
            try c.encode(finish_reason, forKey: .finish_reason)
        }

        enum CodingKeys: String, CodingKey { case index, delta, logprobs, finish_reason }
    }

    let id: String
    var object = "chat.completion.chunk"
    let created: Int
    let model: String
    let choices: [Choice]
    let usage: Usage?

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(object, forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model)
        try c.encode(choices, forKey: .choices)
        // OpenAI sends "usage": null on every chunk but the last when usage is asked for.
        try c.encode(usage, forKey: .usage)
    }

    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage }
}
