/// How the next token is chosen from the logits.
///
/// Defaults match vLLM's: temperature 1, no top-k, top-p or min-p cut. Temperature 0 means
/// greedy (argmax, lowest id on ties).
public struct SamplingParams: Sendable, Equatable {
    /// Softmax temperature; 0 selects greedy decoding.
    public var temperature: Float = 1
    /// Keep only the `topK` most likely tokens; 0 disables the cut.
    public var topK: Int = 0
    /// Keep the smallest set of tokens whose probability reaches `topP`; 1 disables it.
    public var topP: Float = 1
    /// Drop tokens less likely than `minP` times the most likely one; 0 disables it.
    public var minP: Float = 0
    /// Seed of the request's private random stream; `nil` draws one from the system.
    public var seed: UInt64?
    /// Divides positive (multiplies negative) logits of tokens already in the prompt or
    /// output, as in llama.cpp and Hugging Face; 1 disables it.
    public var repetitionPenalty: Float = 1
    /// Subtracts `frequencyPenalty × count` from the logit of each token generated `count`
    /// times so far (OpenAI semantics); 0 disables it.
    public var frequencyPenalty: Float = 0
    /// Subtracts `presencePenalty` from the logit of each token generated at least once.
    public var presencePenalty: Float = 0
    /// Number of independent samples to generate for the prompt (they share its KV blocks).
    public var n: Int = 1
    /// Report the log-probability of each sampled token and this many top alternatives;
    /// `nil` reports none.
    public var logprobs: Int?

    /// Whether any penalty changes the logits.
    public var hasPenalties: Bool {
        repetitionPenalty != 1 || frequencyPenalty != 0 || presencePenalty != 0
    }

    /// Creates parameters with the defaults above.
    public init() {}

    /// Checks ranges, returning a message a client can act on for the first bad value.
    public func validate() throws(RequestError) {
        guard temperature.isFinite, temperature >= 0 else {
            throw .invalidParameter(name: "temperature", reason: "must be a finite number ≥ 0, got \(temperature)")
        }
        guard topK >= 0 else { throw .invalidParameter(name: "top_k", reason: "must be ≥ 0, got \(topK)") }
        guard topP > 0, topP <= 1 else {
            throw .invalidParameter(name: "top_p", reason: "must be in (0, 1], got \(topP)")
        }
        guard minP >= 0, minP <= 1 else {
            throw .invalidParameter(name: "min_p", reason: "must be in [0, 1], got \(minP)")
        }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw .invalidParameter(name: "repetition_penalty", reason: "must be > 0, got \(repetitionPenalty)")
        }
        guard frequencyPenalty.isFinite, abs(frequencyPenalty) <= 2 else {
            throw .invalidParameter(name: "frequency_penalty", reason: "must be in [-2, 2], got \(frequencyPenalty)")
        }
        guard presencePenalty.isFinite, abs(presencePenalty) <= 2 else {
            throw .invalidParameter(name: "presence_penalty", reason: "must be in [-2, 2], got \(presencePenalty)")
        }
        guard n >= 1, n <= 64 else {
            throw .invalidParameter(name: "n", reason: "must be in [1, 64], got \(n)")
        }
        if let logprobs, logprobs < 0 || logprobs > 20 {
            throw .invalidParameter(name: "logprobs", reason: "must be in [0, 20], got \(logprobs)")
        }
    }
}

/// When generation ends.
public struct StopParams: Sendable, Equatable {
    /// Most tokens to generate; `nil` means up to the context length.
    public var maxTokens: Int?
    /// Strings that end generation when they appear in the output; they are not emitted.
    public var stopStrings: [String] = []
    /// Extra token ids that end generation (the model's end-of-generation tokens always do,
    /// unless `ignoreEndOfGeneration` is set).
    public var stopTokenIDs: Set<Int32> = []
    /// Keep generating past end-of-generation tokens (for benchmarks).
    public var ignoreEndOfGeneration = false

    /// Creates parameters that stop only at end-of-generation tokens or the context end.
    public init() {}

    /// Checks ranges, returning a message a client can act on for the first bad value.
    public func validate() throws(RequestError) {
        if let maxTokens, maxTokens < 1 {
            throw .invalidParameter(name: "max_tokens", reason: "must be ≥ 1, got \(maxTokens)")
        }
        if stopStrings.contains(where: \.isEmpty) {
            throw .invalidParameter(name: "stop", reason: "stop strings must not be empty")
        }
    }
}
