import CanopyKV
import CanopyModel

extension EngineCore {
    /// Verifies a speculating chunk: the sequence's last token and its proposals ran, with
    /// logits after each (rows `firstRow...`). Position by position, the engine samples the
    /// token exactly as a step without speculation would (same sampler, same random draw,
    /// same penalties and rules) and accepts it; while that token equals the next proposal,
    /// the logits after the proposal are valid for the next position too, and verification
    /// goes on. So the output is the one decoding without speculation gives, token for token
    /// (for a proposal q that is a point mass this is the lossless rule: a proposal is kept
    /// with probability p(proposal), and otherwise the token is drawn from p without it).
    /// Proposals a draft model sampled from a distribution of its own (`chunk.draftRow`) are
    /// judged by the general rule instead (`judge`): then the output is distributed as
    /// without speculation, not identical to it.
    ///
    /// Then the KV slots of the rejected proposals are given back and the accepted ones
    /// committed (cached). A control token (APAR) ends verification: its fork shares the KV
    /// committed up to it.
    func verify(_ chunk: ScheduledChunk, firstRow: Int, at time: Double) {
        let sequence = chunk.sequence
        // A branch ended earlier in this loop (its request ran out of max_tokens); its blocks
        // are already freed.
        guard sequence.status != .finished else { return }
        // Counted before accepting: the last token may complete the request, which publishes
        // the counters.
        counters.speculativeChunks += 1
        counters.proposedTokens += chunk.drafted
        var accepted = 0
        for i in 0...chunk.drafted {
            sequence.computed += 1  // window[i]'s K/V is in the cache and its logits are row i
            let token = if let draftRow = chunk.draftRow, i < chunk.drafted {
                judge(sequence, row: firstRow + i, proposal: sequence.speculation.window[i + 1], draftRow: draftRow + i)
            } else {
                sample(sequence, row: firstRow + i)
            }
            // Counted before accepting, which may complete the request and publish the counters.
            let matches = i < chunk.drafted && token.id == sequence.speculation.window[i + 1]
            if matches {
                accepted += 1
                counters.acceptedTokens += 1
            }
            if let apar = sequence.request.apar, apar.isControl(token.id) {
                kv.commit(sequence.id, keeping: sequence.computed)
                accept(token, for: sequence, at: time)
                break
            }
            accept(token, for: sequence, at: time)
            // An accepted token may end the sequence (an end token, max_tokens, a stop string).
            guard matches, sequence.status != .finished else { break }
        }
        if sequence.registered && sequence.status != .finished {
            kv.commit(sequence.id, keeping: sequence.computed)
        }
        sequence.speculation.record(proposed: chunk.drafted, accepted: accepted)
    }

    /// The token at a position a draft model proposed `proposal` for, by the lossless rule
    /// (`DraftVerdict`): the target distribution `p` is what the sequence's sampler would draw
    /// from at logits row `row` (penalties, cuts and APAR exclusions applied), the draft's is
    /// row `draftRow` of the draft's distributions; both uniform draws come from the
    /// sequence's own stream.
    private func judge(_ sequence: SequenceState, row: Int, proposal: Int32, draftRow: Int) -> SampledToken {
        let vocabulary = loaded.config.vocabularySize
        if targetProbabilities.count < vocabulary { targetProbabilities = [Float](repeating: 0, count: vocabulary) }
        let excluded = excludedTokens(for: sequence)
        logits.withUnsafeBufferPointer { l in
            targetProbabilities.withUnsafeMutableBufferPointer { p in
                sequence.sampler.distribution(
                    l.baseAddress! + row * vocabulary, count: vocabulary, history: sequence.history, excluding: excluded,
                    workspace: &sampling, into: p.baseAddress!)
            }
        }
        let u = sequence.sampler.nextUniform(), v = sequence.sampler.nextUniform()
        let drafts = scheduler.drafter!.distributions
        let verdict = targetProbabilities.withUnsafeBufferPointer { p in
            drafts.withUnsafeBufferPointer { q in
                DraftVerdict.judge(
                    proposal: proposal, target: UnsafeBufferPointer(rebasing: p[0..<vocabulary]),
                    draft: UnsafeBufferPointer(rebasing: q[(draftRow * vocabulary)..<((draftRow + 1) * vocabulary)]),
                    u: u, v: v)
            }
        }
        var token = SampledToken(id: verdict.token, logprob: nil, topLogprobs: [])
        if let n = sequence.request.request.sampling.logprobs {
            (token.logprob, token.topLogprobs) = logits.withUnsafeBufferPointer { l in
                Sampler.logprobs(l.baseAddress! + row * vocabulary, count: vocabulary, chosen: verdict.token, top: n)
            }
        }
        return token
    }
}
