import CanopyModel
import CanopyTokenizer

/// Turns a `Request` into prompt token ids and a token budget, rejecting what can never run.
///
/// Runs on the caller's thread at submission, so a bad request fails before it is queued.
public struct PromptPreparer: Sendable {
    /// The model requests are prepared for.
    public let loaded: LoadedModel
    /// `max_tokens` for requests that set none; `nil` means up to the context length.
    public var defaultMaxTokens: Int?
    /// Most token positions one sequence may hold in the KV cache (the whole pool).
    public var cacheCapacity: Int

    /// A request resolved to token ids and a concrete budget.
    public struct Prepared: Sendable {
        /// Prompt token ids.
        public var promptTokenIDs: [Int32]
        /// Tokens each sample generates at most (over all its branches when it forks).
        public var maxTokens: Int
    }

    /// Creates a preparer.
    public init(loaded: LoadedModel, defaultMaxTokens: Int?, cacheCapacity: Int) {
        self.loaded = loaded
        self.defaultMaxTokens = defaultMaxTokens
        self.cacheCapacity = cacheCapacity
    }

    /// Tokenizes and validates `request` without running the model. `forking`: the request
    /// may fork (APAR), so `max_tokens`, which counts every branch, is bounded by the KV
    /// cache only, not by one context.
    public func prepare(_ request: Request, forking: Bool = false) throws(RequestError) -> Prepared {
        try request.sampling.validate()
        try request.stop.validate()
        try request.parallel.validate()
        if let tokens = request.speculativeTokens, tokens != 0, !SpeculativeMode.tokenRange.contains(tokens) {
            let range = SpeculativeMode.tokenRange
            throw .invalidParameter(
                name: "speculative_tokens",
                reason: "must be 0 (off) or in \(range.lowerBound)...\(range.upperBound), got \(tokens)")
        }
        let tokenizer = loaded.tokenizer
        let ids: [Int32]
        switch request.prompt {
        case .text(let text):
            ids = tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        case .tokenIDs(let given):
            ids = given
        case .messages(let messages):
            guard !messages.isEmpty else { throw .emptyPrompt }
            switch loaded.chatTemplate {
            case .success(let template):
                // Roles are template text, so only the template's own are accepted; content is
                // tokenized as text, never as control tokens (`<|im_end|>` in a message stays
                // characters). A raw `prompt` keeps recognising control tokens: it is the
                // client's whole prompt, template included.
                let roles = template.roles
                if let bad = messages.firstIndex(where: { !roles.contains($0.role) }) {
                    throw .invalidParameter(
                        name: "messages[\(bad)].role",
                        reason: "'\(messages[bad].role)' is not a role of this model's chat template (\(roles.sorted().joined(separator: ", ")))")
                }
                ids = tokenizer.encode(template.renderMarked(messages, addGenerationPrompt: true))
            case .failure(let error):
                throw .chatTemplateUnavailable(error.description)
            }
        }
        guard !ids.isEmpty else { throw .emptyPrompt }
        let vocabulary = loaded.config.vocabularySize
        let outsideVocabulary = { (id: Int32) in id < 0 || Int(id) >= vocabulary }
        // A stop id the model can never produce would be silently ignored; it is a client bug.
        if let bad = request.stop.stopTokenIDs.sorted().first(where: outsideVocabulary) {
            throw .invalidParameter(name: "stop_token_ids", reason: "\(bad) is not a token id of this model (0..<\(vocabulary))")
        }
        if let bad = ids.first(where: outsideVocabulary) {
            throw .unknownTokenID(bad, vocabularySize: vocabulary)
        }
        // An APAR request's max_tokens counts every branch, and each branch has a context of
        // its own (a branch reaching the context length ends), so only the cache bounds it.
        let limit = forking ? cacheCapacity : min(loaded.config.contextLength, cacheCapacity)
        let maxTokens = request.stop.maxTokens ?? min(defaultMaxTokens ?? .max, limit - ids.count)
        // `maxTokens` comes from the client (up to Int.max over HTTP or a batch line): compared
        // against what is left, never added to the prompt length, so it cannot overflow.
        guard maxTokens >= 1, maxTokens <= limit - ids.count else {
            if !forking, loaded.config.contextLength <= cacheCapacity {
                throw .contextOverflow(promptTokens: ids.count, maxTokens: max(maxTokens, 1), contextLength: limit)
            }
            throw .cacheOverflow(promptTokens: ids.count, maxTokens: max(maxTokens, 1), cacheTokens: cacheCapacity)
        }
        return Prepared(promptTokenIDs: ids, maxTokens: maxTokens)
    }
}
