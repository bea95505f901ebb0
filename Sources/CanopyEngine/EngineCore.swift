import CanopyKV
import CanopyModel

/// The single-threaded heart of the engine: one `step()` schedules, runs one batched
/// forward pass, samples, and reports events.
///
/// Owned by the engine thread; nothing here is locked.
final class EngineCore {
    let loaded: LoadedModel
    let kv: KVCacheManager
    let scheduler: Scheduler
    private var requests: [UInt64: RequestState] = [:]
    private var nextSequenceID: SequenceID = 0
    // Internal rather than private where `EngineCore+Verify.swift` uses them too.
    var counters = EngineCounters()
    /// Called when a request's counters are final, just before its `.completed` event (the
    /// engine publishes its metrics snapshot here).
    var willComplete: (() -> Void)?
    // Per-step storage, reused so that a decode step allocates nothing in steady state.
    private var chunks: [ScheduledChunk] = []
    private var batch = ForwardBatch()
    var logits: [Float] = []
    var sampling = SamplingWorkspace()
    /// The target distribution a draft-model proposal is judged on (`verify`).
    var targetProbabilities: [Float] = []
    private var stalled: [UInt64] = []
    private let config: EngineConfig
    /// Testing only: when set and it returns true for a branch about to be sampled (given
    /// its branch id and own token count) that may fork, the branch forks instead of
    /// taking the sampled token (forced forks on a model that never forks by itself).
    var forkSchedule: ((_ branch: Int, _ generated: Int) -> Bool)?

    init(
        loaded: LoadedModel, kv: KVCacheManager, drafter: DraftModel?, config: EngineConfig,
        costModel: PreemptionCostModel = PreemptionCostModel()
    ) {
        self.loaded = loaded
        self.kv = kv
        self.config = config
        // A decode step reads every weight once: the draft's step costs its share of the bytes.
        let draftCost = config.speculativeDraftCost
            ?? drafter.map { Double($0.loaded.file.fileSize) / Double(max(loaded.file.fileSize, 1)) } ?? 0
        scheduler = Scheduler(
            kv: kv, maxBatchedTokens: config.maxBatchedTokens, maxSequences: config.maxSequences,
            contextLength: loaded.config.contextLength, speculativeStepTokens: config.speculativeStepTokens,
            speculativeTokenCost: config.speculativeTokenCost, drafter: drafter, draftTokenCost: draftCost,
            maxDecodeStall: config.maxDecodeStall, costModel: costModel)
        // Every block once per sequence (more only when blocks are shared, e.g. by forks).
        batch.reserveCapacity(
            tokens: config.maxBatchedTokens, sequences: config.maxSequences,
            blockTableEntries: kv.stats.totalBlocks + config.maxSequences)
    }

    var hasWork: Bool { scheduler.hasWork }
    var waitingCount: Int { scheduler.waiting.count }
    var runningCount: Int { scheduler.running.count }
    var preemptions: Int { scheduler.preemptions }

    /// Queues a prepared request.
    func add(_ request: RequestState, key: UInt64) {
        request.key = key
        requests[key] = request
        request.forked = request.request.sampling.n == 1
        request.speculativeTokens = request.request.speculativeTokens ?? config.defaultSpeculativeTokens
        let sequence = SequenceState(
            id: makeSequenceID(), sample: 0, request: request, tokens: request.promptIDs, tokenizer: loaded.tokenizer)
        request.sequences = [sequence]
        scheduler.enqueue(sequence)
    }

    /// Ends a request at once: its blocks are freed and its stream finished as cancelled.
    func cancel(key: UInt64) {
        guard let request = requests[key] else { return }
        request.cancelled = true
        for sequence in request.sequences where sequence.status != .finished {
            finish(sequence, reason: .cancelled)
        }
        if !request.forked { complete(request, key: key) }
    }

    /// Cancels every request (shutdown without draining).
    func cancelAll() {
        for key in Array(requests.keys) { cancel(key: key) }
    }

    /// Runs one step; returns false when there was nothing to run.
    ///
    /// Allocates nothing in steady state — running sequences decoding, prefix caching off,
    /// no penalties or log-probabilities requested — apart from what the requests' event
    /// sinks do with the events.
    @discardableResult
    func step() -> Bool {
        let now = monotonicSeconds()
        if let timeout = config.stalledReaderTimeout { cancelStalledReaders(now: now, timeout: timeout) }
        scheduler.schedule(now: now, into: &chunks)
        guard !chunks.isEmpty else { return false }
        batch.removeAll()
        for chunk in chunks {
            batch.append(
                tokens: chunk.tokens, firstPosition: chunk.start, blockTable: kv.blockTable(chunk.sequence.id)[...],
                blockSize: kv.blockSize, logitRows: chunk.logitRows)
        }
        let vocabulary = loaded.config.vocabularySize
        let needed = batch.logitCount * vocabulary
        if logits.count < needed {
            // At least a speculating step's rows at once: verification windows vary from step
            // to step, and growing a row at a time would allocate in a steady decode.
            let rows = max(batch.logitCount, scheduler.speculativeStepTokens)
            logits = [Float](repeating: 0, count: max(rows * vocabulary, 2 * logits.count))
        }
        let storage = KVStorage(base: kv.arena.base, layout: kv.arena.layout, copies: kv.arena.copyLog)
        let forwardStart = monotonicSeconds()
        let failure = logits.withUnsafeMutableBufferPointer { buffer -> ForwardError? in
            do throws(ForwardError) {
                try loaded.model.forward(batch, kv: storage, logits: buffer)
                return nil
            } catch {
                return error
            }
        }
        counters.steps += 1
        counters.batchedTokens += batch.count
        if failure == nil {
            let seconds = monotonicSeconds() - forwardStart
            scheduler.stepCost.record(tokens: batch.count, seconds: seconds)
            // A step that ran a prompt chunk (more tokens than its decodes and their proposals)
            // times the prefill rate the preemption cost model weighs recomputation with; one
            // sequence decoding alone times a verification window, and several decoding times
            // a batch step, what speculation weighs proposals with.
            let decodeTokens = chunks.reduce(0) { $0 + ($1.drafted > 0 || $1.count == 1 ? $1.count : 0) }
            if batch.count > decodeTokens {
                scheduler.costModel.recordPrefill(tokens: batch.count, seconds: seconds)
            } else if chunks.count == 1 {
                scheduler.verificationCost.record(tokens: batch.count, seconds: seconds)
            } else {
                scheduler.verificationCost.recordBatch(tokens: batch.count, seconds: seconds)
            }
        }
        if let failure {
            failBatch(failure)
            chunks.removeAll(keepingCapacity: true)
            return true
        }

        var row = 0
        let tokenTime = monotonicSeconds()
        for chunk in chunks {
            let sequence = chunk.sequence
            // Read before sampling: appending the sampled token changes what it says.
            let rows = chunk.logitRows
            defer { row += rows }
            if chunk.drafted > 0 {
                verify(chunk, firstRow: row, at: tokenTime)
                continue
            }
            sequence.computed += chunk.count
            guard chunk.wantsLogits else { continue }
            // A branch ended earlier in this loop (its request ran out of max_tokens).
            guard sequence.status != .finished else { continue }
            let children = sequence.request.forked ? [] : fork(sequence)
            let token = sample(sequence, row: row)
            accept(token, for: sequence, at: tokenTime)
            for child in children {
                let token = logits.withUnsafeBufferPointer { buffer in
                    child.sampler.sample(
                        buffer.baseAddress! + row * vocabulary, count: vocabulary, history: child.history,
                        workspace: &sampling)
                }
                accept(token, for: child, at: tokenTime)
            }
        }
        chunks.removeAll(keepingCapacity: true)
        return true
    }

    /// Samples `sequence`'s next token from logits row `row` of this step, under APAR's
    /// rules (and the test-only forced forks).
    func sample(_ sequence: SequenceState, row: Int) -> SampledToken {
        let vocabulary = loaded.config.vocabularySize
        var token = logits.withUnsafeBufferPointer { buffer in
            sequence.sampler.sample(
                buffer.baseAddress! + row * vocabulary, count: vocabulary, history: sequence.history,
                excluding: excludedTokens(for: sequence), workspace: &sampling)
        }
        if let apar = sequence.request.apar, let forkSchedule, mayFork(sequence),
           forkSchedule(sequence.branch, sequence.generatedCount)
        {
            token = SampledToken(id: apar.fork, logprob: nil, topLogprobs: [])
        }
        return token
    }

    /// Cancels the requests held back for longer than `timeout` by a reader that took none
    /// of their events (a client that stopped reading): their blocks go to requests whose
    /// readers keep up.
    private func cancelStalledReaders(now: Double, timeout: Double) {
        stalled.removeAll(keepingCapacity: true)
        for (key, request) in requests {
            if let since = request.heldBackSince, now - since > timeout { stalled.append(key) }
        }
        for key in stalled { cancel(key: key) }
    }

    /// Fails every request with a sequence in this step's batch, after a forward pass that
    /// threw: the pass left the batch's K/V rows undefined, so each such sequence is dropped
    /// with its blocks kept out of the prefix cache from its chunk on, its request's other
    /// samples end too, and the request completes with `failure` set. Requests outside the
    /// batch are untouched, so the engine goes on serving them.
    private func failBatch(_ failure: ForwardError) {
        var failed: [RequestState] = []
        for chunk in chunks {
            let sequence = chunk.sequence
            scheduler.remove(sequence, unwrittenFrom: chunk.start)
            sequence.status = .finished
            if sequence.request.failure == nil {
                sequence.request.failure = failure
                failed.append(sequence.request)
            }
        }
        for request in failed {
            for sequence in request.sequences where sequence.status != .finished {
                sequence.status = .finished
                scheduler.remove(sequence)
            }
            complete(request, key: request.key)
        }
    }

    /// Creates the other `n - 1` samples of a request once its prompt is computed; they
    /// share every KV block of the first (copy-on-write on their first append).
    private func fork(_ first: SequenceState) -> [SequenceState] {
        let request = first.request
        request.forked = true
        var children: [SequenceState] = []
        for sample in 1..<request.request.sampling.n {
            let child = SequenceState(forking: first, id: makeSequenceID(), sample: sample)
            kv.fork(first.id, into: child.id)
            scheduler.addRunning(child)
            children.append(child)
        }
        request.sequences += children
        return children
    }

    /// The tokens `sequence` may not sample now under APAR's rules (see `AparTokens`): the
    /// child token always; the fork token right after a control token or when the branch
    /// may not fork.
    func excludedTokens(for sequence: SequenceState) -> ExcludedTokens {
        guard let apar = sequence.request.apar else { return .none }
        let afterControl = sequence.tokens.last.map(apar.isControl) ?? false
        return afterControl || !mayFork(sequence) ? ExcludedTokens(apar.child, apar.fork) : ExcludedTokens(apar.child)
    }

    /// Whether `sequence` may fork now: its request is APAR, the branch is less than
    /// `maxDepth` forks deep, fewer than `maxBranches` branches are alive, the KV cache has a
    /// free block for every live branch and one more (forking stops when KV is short), and
    /// `max_tokens` leaves room for the fork and child tokens and one more.
    private func mayFork(_ sequence: SequenceState) -> Bool {
        let request = sequence.request
        guard request.apar != nil else { return false }
        let limits = request.request.parallel
        let live = request.liveBranches
        // The fork token, the child's token and at least one token of the child's own count
        // against max_tokens.
        return sequence.depth < limits.maxDepth && live < limits.maxBranches && kv.stats.freeBlocks > live
            && request.generatedTotal + 3 <= request.maxTokens
    }

    /// Starts a child branch of `parent`, which just took the fork token: the child shares
    /// every computed K/V block (copy-on-write of the partly filled last one) and starts
    /// with the child token.
    private func branch(_ parent: SequenceState, apar: AparTokens) {
        let request = parent.request
        let id = request.nextBranchID(of: parent.sample)
        let child = SequenceState(
            branching: parent, id: makeSequenceID(), branch: id, childToken: apar.child, tokenizer: loaded.tokenizer)
        if parent.registered { kv.fork(parent.id, into: child.id) }
        parent.forks.append((textOffset: parent.text.count, child: id))
        request.sequences.append(child)
        counters.forks += 1
        if parent.status == .running { scheduler.addRunning(child) } else { scheduler.enqueue(child) }
        request.sink(.token(TokenOutput(
            sample: child.sample, branch: id, parentBranch: parent.branch,
            token: SampledToken(id: apar.child, logprob: nil, topLogprobs: []), text: "")))
    }

    /// Appends a sampled token, emits its text, and ends the sequence when a stop condition
    /// holds.
    func accept(_ sampled: SampledToken, for sequence: SequenceState, at time: Double) {
        let request = sequence.request
        let token = sampled.id
        sequence.tokens.append(token)
        sequence.history?.append(token)
        if request.request.sampling.logprobs != nil { sequence.logprobs.append(sampled) }
        if request.firstToken == nil { request.firstToken = time }
        if let last = sequence.lastTokenTime {
            sequence.gapSum += time - last
            sequence.gapCount += 1
        }
        sequence.lastTokenTime = time
        counters.generatedTokens += 1

        var emitted = ""
        var reason: FinishReason?
        var stoppedByString = false
        // An APAR request's max_tokens counts every branch's tokens.
        let generated = request.apar == nil ? sequence.generatedCount : request.generatedTotal
        if request.endTokens.contains(token) {
            reason = .stop
        } else if let apar = request.apar, apar.isControl(token) {
            // Control tokens are structure, not text.
            if generated >= request.maxTokens || sequence.tokens.count >= loaded.config.contextLength {
                reason = .length
            } else if token == apar.fork {
                branch(sequence, apar: apar)
            }
        } else {
            let (piece, stopped) = sequence.stops.feed(sequence.detokenizer.append(token))
            emitted = piece
            if stopped {
                reason = .stop
                stoppedByString = true
            } else if generated >= request.maxTokens || sequence.tokens.count >= loaded.config.contextLength {
                reason = .length
            }
        }
        if reason != nil && !stoppedByString {
            // Text held back as a partial character or a possible stop-string start is final.
            let (rest, stopped) = sequence.flushPending()
            emitted += rest
            if stopped { reason = .stop }
        }
        sequence.text += emitted
        request.sink(.token(TokenOutput(
            sample: sequence.sample, branch: sequence.branch, parentBranch: sequence.parentBranch, token: sampled,
            text: emitted)))
        if let reason { finish(sequence, reason: reason) }
        if request.apar != nil, request.generatedTotal >= request.maxTokens {
            // The request's token budget is spent (a fork's child token may spend the last of
            // it): every branch still going ends here.
            for other in request.sequences where other.status != .finished {
                other.text += other.flushPending().0
                finish(other, reason: .length)
            }
        }
    }

    /// Marks a branch finished and frees its blocks at once (blocks it shares stay with the
    /// other holders); a sample ends with its last branch, and the request with its last
    /// sample.
    private func finish(_ sequence: SequenceState, reason: FinishReason) {
        sequence.status = .finished
        sequence.finishReason = reason
        scheduler.remove(sequence)
        let request = sequence.request
        let sampleDone = !request.sequences.contains { $0.sample == sequence.sample && $0.status != .finished }
        if sampleDone { request.sink(.finished(sample: sequence.sample, reason: sampleReason(request, sequence.sample))) }
        if request.isFinished { complete(request, key: request.key) }
    }

    /// Why a sample ended: its root's reason (a forked sample ends when all its branches have).
    private func sampleReason(_ request: RequestState, _ sample: Int) -> FinishReason {
        request.sequences.first { $0.sample == sample && $0.branch == 0 }?.finishReason ?? .cancelled
    }

    private func complete(_ request: RequestState, key: UInt64) {
        guard requests.removeValue(forKey: key) != nil else { return }
        let now = monotonicSeconds()
        var metrics = RequestMetrics()
        metrics.queueTime = (request.firstScheduled ?? now) - request.arrival
        metrics.timeToFirstToken = request.firstToken.map { $0 - request.arrival } ?? 0
        let gaps = request.sequences.reduce(0) { $0 + $1.gapCount }
        metrics.meanInterTokenLatency = gaps == 0 ? 0 : request.sequences.reduce(0) { $0 + $1.gapSum } / Double(gaps)
        metrics.endToEndLatency = now - request.arrival
        metrics.promptTokens = request.promptIDs.count
        metrics.cachedPromptTokens = request.cachedPromptTokens
        metrics.generatedTokens = request.generatedTotal
        metrics.branches = request.sequences.count
        metrics.preemptions = request.preemptions
        counters.record(metrics, cancelled: request.cancelled, failed: request.failure != nil)
        willComplete?()
        let samples = request.sequences.filter { $0.branch == 0 }.map { root in
            var output = SampleOutput(
                tokenIDs: Array(root.tokens[root.promptCount...]), text: root.text,
                finishReason: root.finishReason ?? .cancelled, logprobs: root.logprobs)
            let tree = request.sequences.filter { $0.sample == root.sample }
            if tree.count > 1 {
                output.branches = tree.sorted { $0.branch < $1.branch }.map { branch in
                    BranchOutput(
                        id: branch.branch, parent: branch.parentBranch, tokenIDs: Array(branch.tokens[branch.ownStart...]),
                        text: branch.text, finishReason: branch.finishReason ?? .cancelled,
                        forks: branch.forks.map { BranchOutput.Fork(textOffset: $0.textOffset, child: $0.child) })
                }
                output.text = AnswerAssembler.assemble(output.branches)
            }
            return output
        }
        request.sink(.completed(RequestOutput(
            id: request.request.id, promptTokenIDs: request.promptIDs, samples: samples, metrics: metrics,
            failure: request.failure)))
    }

    private func makeSequenceID() -> SequenceID {
        defer { nextSequenceID += 1 }
        return nextSequenceID
    }
}
