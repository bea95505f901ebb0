/// The bodies of `POST /v1/completions` and `POST /v1/chat/completions`, as the OpenAI API
/// defines them, plus the extra sampling fields vLLM accepts in the same body (`top_k`,
/// `min_p`, `repetition_penalty`, `ignore_eos`) and Canopy's `speculative_tokens` and APAR
/// switches (`apar`, `apar_max_depth`, `apar_max_branches`, as in the gRPC `ParallelParams`).
///
/// Fields the API has but Canopy does not act on (`user`, `logit_bias` empty, ...) are
/// ignored, as vLLM ignores them; every field Canopy reads is type-checked, so a wrong type
/// is a 400 naming it.
public struct OpenAIParameters: Decodable, Sendable, Equatable {
    /// The model name; any value is accepted (one model is served).
    public var model: String?
    /// Most tokens to generate per choice (`max_completion_tokens` is the chat API's newer name).
    public var maxTokens: Int?
    /// Softmax temperature; 0 is greedy.
    public var temperature: Float?
    /// Nucleus cut.
    public var topP: Float?
    /// Choices to generate.
    public var n: Int?
    /// Stop strings (a string or an array of strings in the body).
    public var stop: [String]?
    /// Seed of the request's random stream.
    public var seed: Int64?
    /// OpenAI's penalties.
    public var frequencyPenalty: Float?
    /// OpenAI's penalties.
    public var presencePenalty: Float?
    /// Whether to answer with server-sent events.
    public var stream: Bool?
    /// `stream_options.include_usage`: a last chunk with the token counts.
    public var includeUsage: Bool?
    /// vLLM's extras.
    public var topK: Int?
    /// vLLM's extras.
    public var minP: Float?
    /// vLLM's extras.
    public var repetitionPenalty: Float?
    /// vLLM's extras: keep generating past end-of-generation tokens.
    public var ignoreEOS: Bool?
    /// Canopy's: most speculative tokens per step (0 turns speculation off for this request).
    public var speculativeTokens: Int?
    /// Canopy's APAR switches: whether the request may fork (unset: when the model can and
    /// `n` is 1), how deep forks nest, how many branches live at once.
    public var apar: Bool?
    /// Canopy's APAR switches.
    public var aparMaxDepth: Int?
    /// Canopy's APAR switches.
    public var aparMaxBranches: Int?
    /// Completions: `logprobs` is the number of alternatives. Chat: `logprobs` is a bool and
    /// `top_logprobs` the number; this holds the resolved count, nil for none.
    public var logprobs: Int?

    enum Keys: String, CodingKey {
        case model, temperature, n, stop, seed, stream
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens"
        case topP = "top_p", frequencyPenalty = "frequency_penalty", presencePenalty = "presence_penalty"
        case streamOptions = "stream_options", topK = "top_k", minP = "min_p"
        case repetitionPenalty = "repetition_penalty", ignoreEOS = "ignore_eos"
        case speculativeTokens = "speculative_tokens", logprobs, topLogprobs = "top_logprobs"
        case apar, aparMaxDepth = "apar_max_depth", aparMaxBranches = "apar_max_branches"
    }

    enum StreamOptionKeys: String, CodingKey { case includeUsage = "include_usage" }

    /// Reads the fields shared by both endpoints; `chat` selects how `logprobs` is read.
    init(from decoder: any Decoder, chat: Bool) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
            ?? (chat ? try c.decodeIfPresent(Int.self, forKey: .maxCompletionTokens) : nil)
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature)
        topP = try c.decodeIfPresent(Float.self, forKey: .topP)
        n = try c.decodeIfPresent(Int.self, forKey: .n)
        if let one = try? c.decodeIfPresent(String.self, forKey: .stop) {
            stop = [one]
        } else {
            stop = try c.decodeIfPresent([String].self, forKey: .stop)
        }
        seed = try c.decodeIfPresent(Int64.self, forKey: .seed)
        frequencyPenalty = try c.decodeIfPresent(Float.self, forKey: .frequencyPenalty)
        presencePenalty = try c.decodeIfPresent(Float.self, forKey: .presencePenalty)
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream)
        if c.contains(.streamOptions), try !c.decodeNil(forKey: .streamOptions) {
            let options = try c.nestedContainer(keyedBy: StreamOptionKeys.self, forKey: .streamOptions)
            includeUsage = try options.decodeIfPresent(Bool.self, forKey: .includeUsage)
        }
        topK = try c.decodeIfPresent(Int.self, forKey: .topK)
        minP = try c.decodeIfPresent(Float.self, forKey: .minP)
        repetitionPenalty = try c.decodeIfPresent(Float.self, forKey: .repetitionPenalty)
        ignoreEOS = try c.decodeIfPresent(Bool.self, forKey: .ignoreEOS)
        speculativeTokens = try c.decodeIfPresent(Int.self, forKey: .speculativeTokens)
        apar = try c.decodeIfPresent(Bool.self, forKey: .apar)
        aparMaxDepth = try c.decodeIfPresent(Int.self, forKey: .aparMaxDepth)
        aparMaxBranches = try c.decodeIfPresent(Int.self, forKey: .aparMaxBranches)
        if chat {
            let wanted = try c.decodeIfPresent(Bool.self, forKey: .logprobs) ?? false
            let top = try c.decodeIfPresent(Int.self, forKey: .topLogprobs)
            logprobs = wanted ? (top ?? 0) : nil
        } else {
            logprobs = try c.decodeIfPresent(Int.self, forKey: .logprobs)
        }
    }

    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder, chat: false)
    }
}

/// `POST /v1/completions`: a prompt (a string, a one-string array, or token ids) and the
/// parameters.
public struct CompletionRequest: Decodable, Sendable, Equatable {
    /// What to continue.
    public enum Prompt: Sendable, Equatable {
        case text(String)
        case tokenIDs([Int32])
    }

    /// The prompt.
    public var prompt: Prompt
    /// Sampling, stopping and streaming parameters.
    public var parameters: OpenAIParameters
    /// `echo`: prepend the prompt to the text (not supported beyond `false`).
    public var echo: Bool

    enum Keys: String, CodingKey { case prompt, echo }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        if let text = try? c.decode(String.self, forKey: .prompt) {
            prompt = .text(text)
        } else if let texts = try? c.decode([String].self, forKey: .prompt) {
            guard texts.count == 1 else {
                throw OpenAIError.badRequest("prompt: send one prompt per request (got \(texts.count)); for several, send several requests, which run batched", param: "prompt")
            }
            prompt = .text(texts[0])
        } else if let ids = try? c.decode([Int32].self, forKey: .prompt) {
            prompt = .tokenIDs(ids)
        } else if let lists = try? c.decode([[Int32]].self, forKey: .prompt), lists.count == 1 {
            prompt = .tokenIDs(lists[0])
        } else {
            throw OpenAIError.badRequest("prompt must be a string or an array of token ids", param: "prompt")
        }
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo) ?? false
        parameters = try OpenAIParameters(from: decoder, chat: false)
    }
}

/// `POST /v1/chat/completions`: messages and the parameters.
public struct ChatCompletionRequest: Decodable, Sendable, Equatable {
    /// One message; `content` is a string or an array of `{"type": "text", "text"}` parts,
    /// joined.
    public struct Message: Decodable, Sendable, Equatable {
        /// "system", "user", "assistant", ...
        public var role: String
        /// The message's text.
        public var content: String

        enum Keys: String, CodingKey { case role, content }
        struct Part: Decodable { let type: String; let text: String? }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            role = try c.decode(String.self, forKey: .role)
            if let text = try? c.decode(String.self, forKey: .content) {
                content = text
            } else if let parts = try? c.decode([Part].self, forKey: .content) {
                guard parts.allSatisfy({ $0.type == "text" && $0.text != nil }) else {
                    throw OpenAIError.badRequest("only text content parts are supported", param: "messages")
                }
                content = parts.compactMap(\.text).joined()
            } else if try c.decodeNil(forKey: .content) {
                content = ""
            } else {
                throw OpenAIError.badRequest("a message's content must be a string or text parts", param: "messages")
            }
        }
    }

    /// The conversation.
    public var messages: [Message]
    /// Sampling, stopping and streaming parameters.
    public var parameters: OpenAIParameters

    enum Keys: String, CodingKey { case messages }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        messages = try c.decode([Message].self, forKey: .messages)
        parameters = try OpenAIParameters(from: decoder, chat: true)
    }
}

/// `POST /tokenize`, as llama-server (`content`) and vLLM (`prompt`) take it; `add_special`
/// (default true, as both) adds the model's BOS and recognises special-token text.
public struct TokenizeRequest: Decodable, Sendable, Equatable {
    /// The text to tokenize.
    public var text: String
    /// Whether BOS is added and special tokens are recognised.
    public var addSpecial: Bool

    enum Keys: String, CodingKey { case content, prompt, addSpecial = "add_special" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        guard let text = try c.decodeIfPresent(String.self, forKey: .content) ?? c.decodeIfPresent(String.self, forKey: .prompt) else {
            throw OpenAIError.badRequest("give the text as content (or prompt)", param: "content")
        }
        self.text = text
        addSpecial = try c.decodeIfPresent(Bool.self, forKey: .addSpecial) ?? true
    }
}
