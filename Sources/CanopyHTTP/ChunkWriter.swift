import CanopyEngine
import CanopyTokenizer
import Foundation

/// Turns the engine's events and outputs into the JSON of one OpenAI response: the whole
/// body of a non-streaming request, or the chunks of a streaming one. `choices[i]` is sample
/// `i`; token texts in log-probabilities are the tokens' own bytes (lossily decoded).
struct ChunkWriter: Sendable {
    let kind: OpenAIResponder.Kind
    let id: String
    let created: Int
    let model: String
    let tokenizer: Tokenizer
    let wantsLogprobs: Bool

    /// What a stream has sent so far, per sample: whether the chat role chunk went out, how
    /// many characters (completions' `text_offset`), and whether its answer forked (APAR).
    ///
    /// A forked answer is no longer a concatenation of token texts: each child's text goes in
    /// at its fork point, before the text its parent writes meanwhile. So once a sample forks
    /// its deltas stop, and the rest of the assembled answer goes out as one delta when the
    /// request completes, followed by the sample's finish chunk: the deltas a client joins
    /// always make the answer (what `canopy generate` does off a terminal).
    struct StreamState {
        var rolesSent: Set<Int> = []
        var characters: [Int: Int] = [:]
        var forked: Set<Int> = []
        /// Finish reasons of forked samples, held until the assembled answer is known.
        var heldFinishes: [Int: FinishReason] = [:]
    }

    func startState() -> StreamState { StreamState() }

    /// The whole response of a finished request.
    func whole(_ output: RequestOutput) -> Data {
        let usage = Usage(prompt: output.promptTokenIDs.count, completion: output.metrics.generatedTokens)
        switch kind {
        case .completion:
            let choices = output.samples.enumerated().map { index, sample in
                CompletionResponse.Choice(
                    index: index, text: sample.text,
                    logprobs: wantsLogprobs ? completionLogprobs(sample.logprobs, startingAt: 0) : nil,
                    finish_reason: OpenAIRequestMapping.finishReason(sample.finishReason))
            }
            return encode(CompletionResponse(id: id, created: created, model: model, choices: choices, usage: usage))
        case .chat:
            let choices = output.samples.enumerated().map { index, sample in
                ChatCompletionResponse.Choice(
                    index: index, message: .init(content: sample.text),
                    logprobs: wantsLogprobs ? ChatLogprobs(content: sample.logprobs.map(chatLogprob)) : nil,
                    finish_reason: OpenAIRequestMapping.finishReason(sample.finishReason))
            }
            return encode(ChatCompletionResponse(id: id, created: created, model: model, choices: choices, usage: usage))
        }
    }

    /// The chunks for one token: for chat, the role first when the sample has sent none; then
    /// the token's final text (skipped when it has none and no log-probability is asked for).
    func chunks(for token: TokenOutput, state: inout StreamState) -> [Data] {
        var out: [Data] = []
        let sample = token.sample
        if token.branch != 0 { state.forked.insert(sample) }
        if state.forked.contains(sample) { return [] }
        switch kind {
        case .completion:
            guard !token.text.isEmpty || wantsLogprobs else { return [] }
            let offset = state.characters[sample, default: 0]
            state.characters[sample] = offset + token.text.count
            let logprobs = wantsLogprobs ? completionLogprobs([token.token], startingAt: offset) : nil
            out.append(completionChunk(sample, text: token.text, logprobs: logprobs, finish: nil))
        case .chat:
            if !state.rolesSent.contains(sample) {
                state.rolesSent.insert(sample)
                out.append(chatChunk(sample, delta: .init(role: "assistant", content: ""), logprobs: nil, finish: nil))
            }
            guard !token.text.isEmpty || wantsLogprobs else { return out }
            state.characters[sample, default: 0] += token.text.count
            let logprobs = wantsLogprobs ? ChatLogprobs(content: [chatLogprob(token.token)]) : nil
            out.append(chatChunk(sample, delta: .init(content: token.text), logprobs: logprobs, finish: nil))
        }
        return out
    }

    /// The chunks that end a sample: its finish chunk, or none yet when it forked (see
    /// `StreamState`; `forkedEndings` sends them).
    func finishChunks(sample: Int, reason: FinishReason, state: inout StreamState) -> [Data] {
        guard state.forked.contains(sample) else { return [finishChunk(sample: sample, reason: reason)] }
        state.heldFinishes[sample] = reason
        return []
    }

    /// For every forked sample of the completed request, in order: the rest of its assembled
    /// answer as one delta, then its finish chunk.
    func forkedEndings(_ output: RequestOutput, state: inout StreamState) -> [Data] {
        var out: [Data] = []
        for sample in state.forked.sorted() where sample < output.samples.count {
            let answer = output.samples[sample]
            let rest = String(answer.text.dropFirst(state.characters[sample, default: 0]))
            state.characters[sample, default: 0] += rest.count
            if !rest.isEmpty {
                switch kind {
                case .completion: out.append(completionChunk(sample, text: rest, logprobs: nil, finish: nil))
                case .chat: out.append(chatChunk(sample, delta: .init(content: rest), logprobs: nil, finish: nil))
                }
            }
            out.append(finishChunk(sample: sample, reason: state.heldFinishes[sample] ?? answer.finishReason))
        }
        return out
    }

    /// The chunk that ends a sample, with its finish reason.
    func finishChunk(sample: Int, reason: FinishReason) -> Data {
        let finish = OpenAIRequestMapping.finishReason(reason)
        switch kind {
        case .completion:
            return completionChunk(sample, text: "", logprobs: nil, finish: finish)
        case .chat:
            return chatChunk(sample, delta: .init(), logprobs: nil, finish: finish)
        }
    }

    /// The last chunk under `stream_options.include_usage`: no choices, the token counts.
    func usageChunk(_ output: RequestOutput) -> Data {
        let usage = Usage(prompt: output.promptTokenIDs.count, completion: output.metrics.generatedTokens)
        switch kind {
        case .completion:
            return encode(CompletionResponse(id: id, created: created, model: model, choices: [], usage: usage))
        case .chat:
            return encode(ChatCompletionChunk(id: id, created: created, model: model, choices: [], usage: usage))
        }
    }

    private func completionChunk(_ sample: Int, text: String, logprobs: CompletionLogprobs?, finish: String?) -> Data {
        let choice = CompletionResponse.Choice(index: sample, text: text, logprobs: logprobs, finish_reason: finish)
        return encode(CompletionResponse(id: id, created: created, model: model, choices: [choice], usage: nil))
    }

    private func chatChunk(_ sample: Int, delta: ChatCompletionChunk.Delta, logprobs: ChatLogprobs?, finish: String?) -> Data {
        let choice = ChatCompletionChunk.Choice(index: sample, delta: delta, logprobs: logprobs, finish_reason: finish)
        return encode(ChatCompletionChunk(id: id, created: created, model: model, choices: [choice], usage: nil))
    }

    private func text(_ id: Int32) -> String { tokenizer.decode([id], renderSpecial: true) }

    private func chatLogprob(_ token: SampledToken) -> ChatTokenLogprob {
        ChatTokenLogprob(
            token: text(token.id), logprob: token.logprob ?? 0,
            bytes: tokenizer.tokenBytes(token.id, renderSpecial: true),
            top_logprobs: token.topLogprobs.map {
                .init(token: text($0.id), logprob: $0.logprob, bytes: tokenizer.tokenBytes($0.id, renderSpecial: true))
            })
    }

    private func completionLogprobs(_ tokens: [SampledToken], startingAt offset: Int) -> CompletionLogprobs {
        var result = CompletionLogprobs()
        var position = offset
        for token in tokens {
            let piece = text(token.id)
            result.tokens.append(piece)
            result.token_logprobs.append(token.logprob)
            // Two alternatives may print the same; the more likely one (listed first) stays.
            var top: [String: Float] = [:]
            for alternative in token.topLogprobs where top[text(alternative.id)] == nil {
                top[text(alternative.id)] = alternative.logprob
            }
            result.top_logprobs.append(top)
            result.text_offset.append(position)
            position += piece.count
        }
        return result
    }

    private func encode(_ value: some Encodable) -> Data { OpenAIJSON.encode(value) }
}
