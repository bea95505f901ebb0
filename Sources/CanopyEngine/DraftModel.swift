import CanopyKV
import CanopyKernels
import CanopyModel

/// Draft-model speculation (`--draft-model`, `speculative = draft`): a smaller model with the
/// served model's vocabulary proposes each speculating sequence's next tokens by decoding
/// them itself, and the served model verifies them in one step. A good draft agrees with
/// the model on most tokens of any text, not only on text that repeats its context, as
/// n-gram lookup needs.
///
/// The draft keeps its own KV cache, managed by its own `KVCacheManager` (prefix caching
/// on, so samples and requests that share a prompt share the draft's blocks too), holding
/// only tokens the model has verified: each proposal's slots are reserved as tentative and
/// given back once the proposals are made, so the next proposal first runs the tokens
/// accepted since (one chunk) and then decodes the new proposals one at a time.
///
/// Greedy sequences propose the draft's argmax (a point mass: the engine verifies it by
/// comparison). Sampled sequences draw each proposal from the distribution the sequence's
/// own sampler gives the draft's logits, and keep that distribution (`distributions`) for
/// the lossless rule (`DraftVerdict`).
///
/// Not thread-safe: owned by the engine thread (called by the scheduler).
final class DraftModel {
    /// The draft.
    let loaded: LoadedModel
    /// The draft's KV blocks.
    let kv: KVCacheManager
    /// The draft distributions of this step's sampled proposals, `vocabulary` floats each,
    /// in the order proposed (`ScheduledChunk.draftRow` says where a chunk's start).
    private(set) var distributions: [Float] = []
    private var rows = 0
    private var batch = ForwardBatch()
    private var logits: [Float]
    /// Tokens a proposal reserves: the ones the draft has not run yet, then placeholders for
    /// the proposals it runs (tentative slots; their ids are never cached).
    private var reservation: [Int32] = []
    private var workspace = SamplingWorkspace()
    private var single: [Int32] = [0]
    private let vocabulary: Int
    /// Longest chunk of tokens the draft runs at once while catching up with a prompt.
    private let chunkTokens: Int

    /// Wraps `draft` for `target`, with a KV cache of `blockCount` blocks of `blockSize`
    /// positions at `precision`. Throws `.invalidConfiguration` naming the first difference
    /// when the two vocabularies differ (the draft's token ids would mean other text).
    init(
        _ draft: LoadedModel, target: LoadedModel, blockCount: Int, blockSize: Int, precision: KVPrecision,
        chunkTokens: Int
    ) throws(EngineError) {
        try Self.checkVocabulary(draft: draft, target: target)
        loaded = draft
        vocabulary = draft.config.vocabularySize
        let c = draft.config
        let layout = PagedKVLayout(
            blockSize: blockSize, layers: c.blockCount, kvHeads: c.headCountKV, headDimension: c.headDimension,
            precision: precision)
        kv = KVCacheManager(layout: layout, blockCount: blockCount, prefixCaching: true)
        logits = [Float](repeating: 0, count: vocabulary)
        self.chunkTokens = max(chunkTokens, 1)
    }

    /// Throws unless `draft` has `target`'s vocabulary: the same logit count and the same
    /// token text at every id.
    static func checkVocabulary(draft: LoadedModel, target: LoadedModel) throws(EngineError) {
        let theirs = draft.tokenizer.vocabulary.tokens, ours = target.tokenizer.vocabulary.tokens
        let advice = "a draft model must use the served model's tokenizer (a smaller model of the same family)"
        guard draft.config.vocabularySize == target.config.vocabularySize, theirs.count == ours.count else {
            throw .invalidConfiguration(
                "the draft model's vocabulary has \(theirs.count) tokens (\(draft.config.vocabularySize) logits), the model's \(ours.count) (\(target.config.vocabularySize) logits): \(advice)")
        }
        if let id = ours.indices.first(where: { ours[$0] != theirs[$0] }) {
            throw .invalidConfiguration(
                "the draft model's vocabulary differs from the model's at token \(id) (\(String(reflecting: theirs[id])) in the draft, \(String(reflecting: ours[id])) in the model): \(advice)")
        }
    }

    /// Starts a step: the previous step's distributions are no longer needed.
    func beginStep() { rows = 0 }

    /// Appends to `window` up to `limit` proposed tokens following `sequence.tokens`, decoded
    /// by the draft; returns how many, and for a sampled sequence the row of `distributions`
    /// holding the first one's draft distribution (the others follow). 0 proposals when the
    /// draft's KV cache has no room or its forward pass fails (the sequence then decodes
    /// without proposals; nothing else changes).
    func propose(for sequence: SequenceState, limit requested: Int, into window: inout [Int32]) -> (count: Int, row: Int?) {
        let id = sequence.id
        let tokens = sequence.tokens
        let limit = min(requested, loaded.config.contextLength - tokens.count)
        guard limit > 0 else { return (0, nil) }
        if !kv.contains(id) {
            _ = kv.startSequence(id, promptTokens: tokens, expectedLength: sequence.request.maxTokens + tokens.count)
        }
        let done = kv.tokenCount(id)
        guard done < tokens.count else {
            forget(id)
            return (0, nil)
        }
        // Catch up on every token but the last, chunk by chunk.
        while tokens.count - kv.tokenCount(id) > chunkTokens + 1 {
            let start = kv.tokenCount(id)
            guard run(id, tokens: tokens[start..<(start + chunkTokens)], logits: false) else { return (0, nil) }
        }
        let start = kv.tokenCount(id)
        reservation.removeAll(keepingCapacity: true)
        reservation.append(contentsOf: tokens[start...])
        let caughtUp = tokens.count
        for _ in 1..<limit { reservation.append(0) }
        guard kv.reserveSlots(id, tokens: reservation[...], tentative: limit - 1) else {
            forget(id)
            return (0, nil)
        }
        let greedy = sequence.sampler.isGreedy
        let firstRow = rows
        if !greedy, distributions.count < (rows + limit) * vocabulary {
            distributions.append(contentsOf: repeatElement(0, count: (rows + limit) * vocabulary - distributions.count))
        }
        var count = 0
        while count < limit {
            let ran = count == 0
                ? forward(id, tokens: tokens[start...], at: start)
                : forward(id, token: window[window.count - 1], at: caughtUp + count - 1)
            guard ran else {
                // The pass failed and the draft state is gone: no proposals this time.
                window.removeLast(count)
                return (0, nil)
            }
            let proposal: Int32
            if greedy {
                proposal = logits.withUnsafeBufferPointer { Sampler.argmax($0.baseAddress!, count: vocabulary) }
            } else {
                proposal = logits.withUnsafeBufferPointer { buffer in
                    distributions.withUnsafeMutableBufferPointer { q in
                        sequence.sampler.distribution(
                            buffer.baseAddress!, count: vocabulary, history: sequence.history, workspace: &workspace,
                            into: q.baseAddress! + (rows + count) * vocabulary)
                    }
                    return sequence.sampler.sample(
                        buffer.baseAddress!, count: vocabulary, history: sequence.history, workspace: &workspace
                    ).id
                }
            }
            window.append(proposal)
            count += 1
            // Nothing follows the end of generation: proposals after it would be wasted.
            if sequence.request.endTokens.contains(proposal) { break }
        }
        // Only verified tokens stay: the proposals' slots go back.
        kv.commit(id, keeping: caughtUp)
        if !greedy { rows += count }
        return (count, greedy ? nil : firstRow)
    }

    /// Frees the draft's blocks of sequence `id`, if it holds any (the sequence ended, was
    /// preempted, or its draft state is no longer usable).
    func forget(_ id: SequenceID) {
        if kv.contains(id) { kv.free(id) }
    }

    /// Reserves slots for `tokens` and runs them (catching up); false, with the sequence's
    /// draft state dropped, when the cache is full or the pass fails.
    private func run(_ id: SequenceID, tokens: ArraySlice<Int32>, logits wanted: Bool) -> Bool {
        let position = kv.tokenCount(id)
        guard kv.reserveSlots(id, tokens: tokens), forward(id, tokens: tokens, at: position, logitRows: wanted ? 1 : 0)
        else {
            forget(id)
            return false
        }
        return true
    }

    /// `forward(_:tokens:at:logitRows:)` of one token.
    private func forward(_ id: SequenceID, token: Int32, at position: Int) -> Bool {
        single[0] = token
        return forward(id, tokens: single[...], at: position)
    }

    /// Runs `tokens` at `position...` (slots already reserved) and leaves the logits after
    /// the last in `logits` when `logitRows` is 1; false, with the sequence's draft state
    /// dropped, when the pass fails.
    private func forward(_ id: SequenceID, tokens: ArraySlice<Int32>, at position: Int, logitRows: Int = 1) -> Bool {
        batch.removeAll()
        batch.append(
            tokens: tokens, firstPosition: position, blockTable: kv.blockTable(id)[...], blockSize: kv.blockSize,
            logitRows: logitRows)
        let storage = KVStorage(base: kv.arena.base, layout: kv.arena.layout)
        let failed = logits.withUnsafeMutableBufferPointer { buffer -> Bool in
            do throws(ForwardError) {
                try loaded.model.forward(batch, kv: storage, logits: buffer)
                return false
            } catch {
                return true
            }
        }
        if failed { forget(id) }
        return !failed
    }
}
