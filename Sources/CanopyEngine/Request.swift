import CanopyTokenizer

/// What a client asked the engine to do.
public struct Request: Sendable {
    /// The input, in one of the three forms clients may send.
    public enum Prompt: Sendable, Equatable {
        /// Raw text, tokenized as is; special tokens such as `<|im_start|>` are recognised.
        case text(String)
        /// Token ids, used unchanged.
        case tokenIDs([Int32])
        /// Chat messages, rendered with the model's chat template.
        case messages([ChatMessage])
    }

    /// The client's identifier, echoed back in results.
    public var id: String
    /// The input.
    public var prompt: Prompt
    /// How tokens are chosen.
    public var sampling: SamplingParams
    /// When to stop.
    public var stop: StopParams
    /// APAR parallel decoding (used by models with APAR tokens).
    public var parallel = ParallelParams()
    /// Most speculative proposals per step for this request (0 turns speculation off for
    /// it, up to `SpeculativeMode.tokenRange.upperBound`); nil takes the engine's setting.
    /// Changes speed only, never the output.
    public var speculativeTokens: Int?

    /// Creates a request with default sampling and stopping.
    public init(id: String, prompt: Prompt, sampling: SamplingParams = SamplingParams(), stop: StopParams = StopParams()) {
        self.id = id
        self.prompt = prompt
        self.sampling = sampling
        self.stop = stop
    }
}

/// Why a request was refused; the message names the parameter and the allowed range.
public enum RequestError: Error, CustomStringConvertible, Equatable {
    /// A sampling or stopping parameter is out of range.
    case invalidParameter(name: String, reason: String)
    /// The prompt is empty after tokenization.
    case emptyPrompt
    /// A prompt token id is not in the vocabulary.
    case unknownTokenID(Int32, vocabularySize: Int)
    /// Prompt plus requested tokens exceed what the model can attend to.
    case contextOverflow(promptTokens: Int, maxTokens: Int, contextLength: Int)
    /// Prompt plus requested tokens exceed the whole KV cache.
    case cacheOverflow(promptTokens: Int, maxTokens: Int, cacheTokens: Int)
    /// The request is chat messages but the model has no usable chat template.
    case chatTemplateUnavailable(String)

    public var description: String {
        switch self {
        case .invalidParameter(let name, let reason):
            return "invalid \(name): \(reason)"
        case .emptyPrompt:
            return "the prompt is empty; send some text, token ids or messages"
        case .unknownTokenID(let id, let size):
            return "token id \(id) is outside the vocabulary (valid ids are 0..<\(size))"
        case .contextOverflow(let prompt, let maxTokens, let context):
            return "prompt (\(prompt) tokens) plus max_tokens (\(maxTokens)) exceeds the context length \(context); shorten the prompt or lower max_tokens"
        case .cacheOverflow(let prompt, let maxTokens, let cache):
            return "prompt (\(prompt) tokens) plus max_tokens (\(maxTokens)) exceeds the KV cache (\(cache) tokens); lower max_tokens or start the engine with more --kv-cache-memory"
        case .chatTemplateUnavailable(let reason):
            return "cannot format chat messages: \(reason)"
        }
    }
}
