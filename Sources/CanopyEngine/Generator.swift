import CanopyModel
import CanopyTokenizer

/// Runs requests one at a time on a loaded model: tokenize, prefill, decode, sample, stop,
/// detokenize.
///
/// This is the offline path behind `canopy batch`; it owns its KV cache for the duration of
/// one request. Not thread-safe: use one generator per thread.
public final class Generator {
    /// The model requests run on.
    public let loaded: LoadedModel
    /// Prompt tokens run per forward pass; bounds the activation memory of long prompts.
    public var prefillChunk = 512
    /// Token budget of requests that set no `maxTokens`; `nil` allows up to the context end.
    public var defaultMaxTokens: Int?

    /// Creates a generator over `loaded`.
    public init(loaded: LoadedModel) {
        self.loaded = loaded
    }

    /// A request resolved to token ids and a concrete token budget.
    public struct Prepared: Sendable {
        /// Prompt token ids.
        public var promptTokenIDs: [Int32]
        /// Tokens that will be generated at most.
        public var maxTokens: Int
    }

    /// Tokenizes and validates `request` without running the model.
    public func prepare(_ request: Request) throws(RequestError) -> Prepared {
        try request.sampling.validate()
        try request.stop.validate()
        let tokenizer = loaded.tokenizer
        let ids: [Int32]
        switch request.prompt {
        case .text(let text):
            ids = tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        case .tokenIDs(let given):
            ids = given
        case .messages(let messages):
            let template: ChatTemplate
            switch loaded.chatTemplate {
            case .success(let t): template = t
            case .failure(let error): throw .chatTemplateUnavailable(error.description)
            }
            let rendered = template.render(messages, addGenerationPrompt: true)
            ids = tokenizer.encode(rendered, addSpecial: false, parseSpecial: true)
        }
        guard !ids.isEmpty else { throw .emptyPrompt }
        let vocabulary = loaded.config.vocabularySize
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw .unknownTokenID(bad, vocabularySize: vocabulary)
        }
        let context = loaded.config.contextLength
        let maxTokens = request.stop.maxTokens ?? min(defaultMaxTokens ?? .max, context - ids.count)
        guard maxTokens >= 1, ids.count + maxTokens <= context else {
            throw .contextOverflow(promptTokens: ids.count, maxTokens: max(maxTokens, 1), contextLength: context)
        }
        return Prepared(promptTokenIDs: ids, maxTokens: maxTokens)
    }

    /// Runs `request` to completion, calling `onText` with each piece of text as soon as it is
    /// final (complete UTF-8, and not possibly the start of a stop string).
    public func generate(_ request: Request, onText: (String) -> Void = { _ in }) throws(RequestError) -> Completion {
        let prepared = try prepare(request)
        let model = loaded.model
        let vocabulary = loaded.config.vocabularySize
        let prompt = prepared.promptTokenIDs
        let cache = model.makeCache(slots: 1, capacity: prompt.count + prepared.maxTokens)

        var logits: [Float] = []
        var start = 0
        while start < prompt.count {
            let end = min(start + prefillChunk, prompt.count)
            var batch = ForwardBatch()
            batch.append(sequence: Array(prompt[start..<end]), from: start, slot: 0, logitsForLast: end == prompt.count)
            logits = model.forward(batch, cache: cache)
            start = end
        }

        var sampler = Sampler(params: request.sampling)
        var detokenizer = StreamingDetokenizer(tokenizer: loaded.tokenizer)
        var stops = StopStringMatcher(stops: request.stop.stopStrings)
        let endTokens = request.stop.ignoreEndOfGeneration
            ? request.stop.stopTokenIDs
            : request.stop.stopTokenIDs.union(loaded.tokenizer.endOfGenerationTokens)
        var generated: [Int32] = []
        var text = ""
        var finish = FinishReason.length
        var stoppedByString = false
        func emit(_ piece: String) {
            guard !piece.isEmpty else { return }
            text += piece
            onText(piece)
        }

        while generated.count < prepared.maxTokens {
            let token = logits.withUnsafeBufferPointer { sampler.sample($0.baseAddress!, count: vocabulary) }
            generated.append(token)
            if endTokens.contains(token) {
                finish = .stop
                break
            }
            let (piece, stopped) = stops.feed(detokenizer.append(token))
            emit(piece)
            if stopped {
                finish = .stop
                stoppedByString = true
                break
            }
            guard generated.count < prepared.maxTokens else { break }
            var batch = ForwardBatch()
            batch.append(token: token, position: prompt.count + generated.count - 1, slot: 0, wantsLogits: true)
            logits = model.forward(batch, cache: cache)
        }
        if !stoppedByString {
            // Text held back by the detokenizer or as a possible stop-string start is final now.
            let (piece, stopped) = stops.feed(detokenizer.finish())
            emit(piece)
            if stopped { finish = .stop } else { emit(stops.finish()) }
        }
        return Completion(id: request.id, promptTokenIDs: prompt, tokenIDs: generated, text: text, finishReason: finish)
    }
}
