import CanopyEngine
import CanopyModel
import CanopyTokenizer

/// From an OpenAI request body to the engine's `Request`: the same fields the gRPC mapping
/// (`EngineMapping`) fills, from the same starting point (the model's `SamplingDefaults`), so
/// one request gives the same tokens through either interface. Range checks are the engine's
/// (`SamplingParams.validate`, run at submit); this layer refuses only what the engine's types
/// cannot hold.
enum OpenAIRequestMapping {
    /// The engine request for a completion.
    static func request(_ body: CompletionRequest, id: String, defaults: SamplingDefaults) throws(OpenAIError) -> CanopyEngine.Request {
        if body.echo {
            throw .badRequest("echo is not supported; the response's usage.prompt_tokens gives the prompt's length", param: "echo")
        }
        let prompt: CanopyEngine.Request.Prompt
        switch body.prompt {
        case .text(let text): prompt = .text(text)
        case .tokenIDs(let ids): prompt = .tokenIDs(ids)
        }
        return try request(prompt, body.parameters, id: id, defaults: defaults)
    }

    /// The engine request for a chat completion; the messages are rendered with the model's
    /// chat template.
    static func request(_ body: ChatCompletionRequest, id: String, defaults: SamplingDefaults) throws(OpenAIError) -> CanopyEngine.Request {
        guard !body.messages.isEmpty else { throw .badRequest("messages is empty", param: "messages") }
        let messages = body.messages.map { ChatMessage(role: $0.role, content: $0.content) }
        return try request(.messages(messages), body.parameters, id: id, defaults: defaults)
    }

    private static func request(
        _ prompt: CanopyEngine.Request.Prompt, _ p: OpenAIParameters, id: String, defaults: SamplingDefaults
    ) throws(OpenAIError) -> CanopyEngine.Request {
        var request = CanopyEngine.Request(id: id, prompt: prompt, sampling: defaults.params)
        if let v = p.temperature { request.sampling.temperature = v }
        if let v = p.topP { request.sampling.topP = v }
        if let v = p.topK { request.sampling.topK = v }
        if let v = p.minP { request.sampling.minP = v }
        if let v = p.repetitionPenalty { request.sampling.repetitionPenalty = v }
        if let v = p.frequencyPenalty { request.sampling.frequencyPenalty = v }
        if let v = p.presencePenalty { request.sampling.presencePenalty = v }
        if let v = p.n { request.sampling.n = v }
        request.sampling.seed = p.seed.map { UInt64(bitPattern: $0) }
        request.sampling.logprobs = p.logprobs
        request.stop.maxTokens = p.maxTokens
        request.stop.stopStrings = p.stop ?? []
        request.stop.ignoreEndOfGeneration = p.ignoreEOS ?? false
        request.speculativeTokens = p.speculativeTokens
        request.parallel.enabled = p.apar
        if let v = p.aparMaxDepth { request.parallel.maxDepth = v }
        if let v = p.aparMaxBranches { request.parallel.maxBranches = v }
        if p.stream != true, p.includeUsage != nil {
            throw .badRequest("stream_options is only allowed when stream is true", param: "stream_options")
        }
        return request
    }

    /// OpenAI's name for why a choice ended. A cancelled sample is reported only to a client
    /// that is gone, or when the engine failed the request (answered with an error instead).
    static func finishReason(_ reason: FinishReason) -> String {
        switch reason {
        case .stop: return "stop"
        case .length: return "length"
        case .cancelled: return "abort"
        }
    }
}
