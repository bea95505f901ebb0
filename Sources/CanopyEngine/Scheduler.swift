import CanopyKV

/// A slice of one sequence scheduled for this step; its KV slots are reserved.
struct ScheduledChunk {
    let sequence: SequenceState
    /// Position of the chunk's first token (the sequence's `computed` before the step).
    let start: Int
    /// Number of tokens run (one for a decode step, one more than `drafted` when it
    /// speculates).
    let count: Int
    /// Speculative proposals verified after the sequence's last token (their slots are
    /// tentative until the engine commits the accepted ones).
    var drafted = 0
    /// For proposals a draft model sampled: the row of `DraftModel.distributions` holding
    /// the first one's draft distribution (the others follow). nil for point-mass proposals
    /// (n-gram lookup, greedy drafts), verified by comparison.
    var draftRow: Int?
    /// The token ids run: the sequence's own, or its last token and the proposals.
    var tokens: ArraySlice<Int32> {
        drafted > 0 ? sequence.speculation.window[...] : sequence.tokens[start..<(start + count)]
    }
    /// How many of the chunk's last tokens want logits: every token of a speculating chunk,
    /// else one when the chunk reaches the sequence's last token (it is sampled), else none.
    /// Meaningful until the step appends the sampled tokens.
    var logitRows: Int { drafted > 0 ? count : (start + count == sequence.tokens.count ? 1 : 0) }
    /// Whether the chunk's logits are sampled.
    var wantsLogits: Bool { logitRows > 0 }
}

/// Decides what each step runs, as vLLM's scheduler does: running decodes first, then
/// prefill work (running chunked prefills, then waiting sequences in arrival order) up to a
/// token budget; when KV blocks run out, the youngest running sequence is preempted rather
/// than anything failing. With a swap tier a preempted sequence is swapped out (its blocks
/// written to the tier, read back when it resumes) when `costModel` estimates that to be
/// cheaper than recomputing it; otherwise, or when the tier is full or fails, its blocks are
/// freed and its tokens recomputed later.
///
/// Prefill work yields to the decodes it runs beside: a step that carries decodes runs only
/// as many prompt tokens as keep it within `maxDecodeStall` times the time of its decodes
/// alone (estimated by `stepCost`, see `StepCostModel`), but at least
/// `minimumPrefillChunk`, so that an arriving request's prompt cannot stall every running
/// stream for the length of a full token budget (vLLM bounds the same stall with its
/// chunked-prefill token budget). A step with no decodes runs up to the whole budget.
///
/// Speculative decoding (see `SpeculationState`) rides on the decodes: while nothing waits
/// to be prefilled, a decoding sequence may add proposed tokens to its chunk, as long as
/// the step's decode tokens stay within `speculativeStepTokens` and each proposal is
/// expected to pay for itself (`stepProposalThreshold`). With few sequences a proposal costs
/// a fraction of a step; with many the step is already bound by arithmetic, each token costs
/// about what a whole sequence's does, and nothing is proposed, so speculation does not lower
/// throughput. Proposals never cause a preemption:
/// a sequence whose proposals do not fit decodes without them.
///
/// Not thread-safe: owned by the engine thread.
final class Scheduler {
    let kv: KVCacheManager
    let maxBatchedTokens: Int
    let maxSequences: Int
    /// Sequences waiting for admission; preempted ones go back to the front.
    private(set) var waiting: [SequenceState] = []
    /// Sequences holding KV blocks, in admission order.
    private(set) var running: [SequenceState] = []
    /// Preemptions since start, and of those, the ones that swapped the sequence out.
    private(set) var preemptions = 0
    private(set) var swapPreemptions = 0
    /// Swap-versus-recompute estimates; the engine feeds it prefill timings.
    var costModel: PreemptionCostModel
    /// Step time by token count; the engine feeds it every forward pass.
    var stepCost = StepCostModel()
    /// Most a step's prefill work may slow the decodes in it, as a multiple of their time
    /// alone; 0 leaves prefill bounded by the token budget only.
    let maxDecodeStall: Double
    /// Prompt tokens a step carrying decodes may always run, so that prefill progresses
    /// however tight the stall bound is.
    static let minimumPrefillChunk = 16
    /// The model's context length: proposals never run past it.
    let contextLength: Int
    /// Most decode tokens, proposals included, of a step that speculates.
    let speculativeStepTokens: Int
    /// What one more token costs a decode step, as a share of a one-token step: measured from
    /// the decode steps the engine records, `EngineConfig.speculativeTokenCost` before that.
    var verificationCost: VerificationCostModel
    /// Where proposals come from when there is no draft model. Single-token matches are left
    /// out: on the speculative bench's prompts they were rejected often enough to cost more
    /// steps' work than they saved.
    let proposer = NGramProposer(maximumN: 4, minimumN: 2)
    /// The draft model that proposes instead, if any (`--draft-model`).
    let drafter: DraftModel?
    /// What the draft's work for one proposal adds to `verificationCost`.
    let draftTokenCost: Double
    /// Seconds spent finding proposals since start.
    private(set) var draftingSeconds = 0.0
    /// Per-step working storage, kept so that scheduling allocates nothing in steady state.
    private var order: [SequenceState] = []
    private var scheduled = Set<ObjectIdentifier>()
    /// This step's window times for a sequence decoding alone (`VerificationCostModel
    /// .windowTimes`); empty when proposals are weighed by a threshold instead.
    private var windowTimes: [Double] = []

    init(
        kv: KVCacheManager, maxBatchedTokens: Int, maxSequences: Int, contextLength: Int,
        speculativeStepTokens: Int, speculativeTokenCost: Double, drafter: DraftModel?, draftTokenCost: Double,
        maxDecodeStall: Double, costModel: PreemptionCostModel
    ) {
        self.kv = kv
        self.maxDecodeStall = maxDecodeStall
        self.drafter = drafter
        self.draftTokenCost = drafter == nil ? 0 : draftTokenCost
        self.contextLength = contextLength
        self.speculativeStepTokens = speculativeStepTokens
        self.verificationCost = VerificationCostModel(prior: speculativeTokenCost, maximumTokens: speculativeStepTokens)
        self.costModel = costModel
        self.maxBatchedTokens = maxBatchedTokens
        self.maxSequences = maxSequences
    }

    /// Whether anything is left to run.
    var hasWork: Bool { !waiting.isEmpty || !running.isEmpty }

    /// Queues a new sequence behind everything already waiting.
    func enqueue(_ sequence: SequenceState) {
        sequence.status = .waiting
        waiting.append(sequence)
    }

    /// Adds a forked sequence that already holds (shared) blocks to the running set.
    func addRunning(_ sequence: SequenceState) {
        sequence.status = .running
        running.append(sequence)
    }

    /// Removes a sequence for good and frees its blocks at once. `unwrittenFrom`: the first
    /// position whose K/V row was reserved but never written (a failed forward pass); the
    /// blocks from there on are kept out of the prefix cache.
    func remove(_ sequence: SequenceState, unwrittenFrom position: Int? = nil) {
        if let position, sequence.registered {
            kv.free(sequence.id, unwrittenFrom: position)
            sequence.registered = false
        }
        release(sequence)
        running.removeAll { $0 === sequence }
        waiting.removeAll { $0 === sequence }
    }

    /// Chooses this step's work into `chunks` (emptied first, storage kept). Every chunk has
    /// its KV slots reserved. Allocates nothing in steady state (running sequences decoding,
    /// prefix caching off).
    func schedule(now: Double, into chunks: inout [ScheduledChunk]) {
        var budget = maxBatchedTokens
        chunks.removeAll(keepingCapacity: true)
        scheduled.removeAll(keepingCapacity: true)
        drafter?.beginStep()
        var preempted = false

        // Running sequences: decodes first, then chunked prefills, each oldest first. `order`
        // is a snapshot: preemption below changes `running`.
        // A request whose reader is far behind decodes nothing until the reader catches up.
        order.removeAll(keepingCapacity: true)
        for sequence in running where sequence.uncomputed == 1 && !sequence.request.isHeldBack(now: now) {
            order.append(sequence)
        }
        let decodes = order.count
        var prefilling = !waiting.isEmpty
        for sequence in running where sequence.uncomputed > 1 {
            order.append(sequence)
            prefilling = true
        }
        defer { order.removeAll(keepingCapacity: true) }
        var proposals = prefilling ? 0 : max(0, min(speculativeStepTokens, budget) - decodes)
        // One sequence alone sizes its window by the measured window times; otherwise each
        // proposal must clear the step's threshold (and always with a prior of 0, which
        // proposes whatever there is).
        let sizesWindow = proposals > 0 && decodes == 1 && verificationCost.prior > 0
        if sizesWindow {
            verificationCost.windowTimes(into: &windowTimes, extraPerToken: draftTokenCost)
        } else {
            windowTimes.removeAll(keepingCapacity: true)
        }
        let threshold = proposals > 0 && !sizesWindow ? stepProposalThreshold(decodes: decodes) : 1
        var prefillBudget = prefillTokenLimit(decodes: decodes)
        for sequence in order {
            guard budget > 0 else { break }
            guard sequence.status == .running else { continue }  // preempted earlier in this loop
            let drafted = proposals > 0
                ? reserveSpeculating(sequence, proposals: proposals, threshold: threshold, into: &chunks) : 0
            if drafted > 0 {
                scheduled.insert(ObjectIdentifier(sequence))
                budget -= drafted + 1
                proposals -= drafted
                continue
            }
            let decoding = sequence.uncomputed == 1
            if decoding { sequence.speculation.recordPlainStep() }
            let limit = decoding ? budget : min(budget, prefillBudget)
            guard limit > 0 else { continue }
            var chunk = reserve(sequence, budget: limit)
            while chunk == nil {
                guard let victim = running.last(where: { !scheduled.contains(ObjectIdentifier($0)) }) else { break }
                preempt(victim)
                preempted = true
                if victim === sequence { break }
                chunk = reserve(sequence, budget: limit)
            }
            guard let chunk else { continue }
            scheduled.insert(ObjectIdentifier(sequence))
            chunks.append(chunk)
            budget -= chunk.count
            if !decoding { prefillBudget -= chunk.count }
        }

        // Waiting sequences, in order, while budget, sequence slots and blocks last. After a
        // preemption nothing new is admitted this step: memory is short.
        while !preempted, min(budget, prefillBudget) > 0, running.count < maxSequences, let sequence = waiting.first {
            let limit = min(budget, prefillBudget)
            if sequence.registered, kv.isSwappedOut(sequence.id), !swapIn(sequence, budget: limit) {
                break  // not enough free blocks yet: wait for memory
            }
            if !sequence.registered {
                let cached = kv.startSequence(
                    sequence.id, promptTokens: sequence.tokens, expectedLength: sequence.maximumLength)
                sequence.registered = true
                sequence.computed = cached
                if sequence.sample == 0, sequence.request.firstScheduled == nil {
                    sequence.request.cachedPromptTokens = cached
                }
            }
            guard let chunk = reserve(sequence, budget: limit) else {
                // Not enough free blocks: release the reused prefix and wait for memory.
                release(sequence)
                break
            }
            waiting.removeFirst()
            sequence.status = .running
            if sequence.request.firstScheduled == nil { sequence.request.firstScheduled = now }
            running.append(sequence)
            chunks.append(chunk)
            budget -= chunk.count
            prefillBudget -= chunk.count
        }
    }

    /// Most prompt tokens this step may run beside `decodes` decodes: what keeps the step
    /// within `maxDecodeStall` times their time alone, at least `minimumPrefillChunk`; the
    /// whole token budget when nothing decodes or the bound is off.
    func prefillTokenLimit(decodes: Int) -> Int {
        guard maxDecodeStall > 0, decodes > 0 else { return maxBatchedTokens }
        let stepLimit = stepCost.stepTokenLimit(decodes: decodes, stall: maxDecodeStall)
        return min(maxBatchedTokens, max(Self.minimumPrefillChunk, stepLimit - decodes))
    }

    /// Reserves KV slots for the next `min(uncomputed, budget)` tokens of `sequence`; `nil`,
    /// with nothing changed, when too few blocks are free.
    private func reserve(_ sequence: SequenceState, budget: Int) -> ScheduledChunk? {
        let start = sequence.computed
        let count = min(sequence.uncomputed, budget)
        assert(kv.tokenCount(sequence.id) == start, "KV manager and scheduler disagree on sequence \(sequence.id)")
        guard kv.reserveSlots(sequence.id, tokens: sequence.tokens[start..<(start + count)]) else { return nil }
        return ScheduledChunk(sequence: sequence, start: start, count: count)
    }

    /// The expected tokens a proposal must yield to pay for itself in a step with `decodes`
    /// decoding sequences: the tokens per unit of time the step makes without it,
    /// `decodes / (1 + cost × (decodes − 1))`, times the proposal's cost `cost` (see
    /// `VerificationCostModel`). 0.3 for one sequence at the default cost; it
    /// rises towards 1 as the step fills. A cost of 0 proposes whenever there is a proposal.
    static func proposalThreshold(decodes: Int, cost: Double) -> Double {
        let d = Double(max(decodes, 1))
        return cost * d / (1 + cost * (d - 1))
    }

    /// The expected tokens a proposal must yield this step, with `decodes` sequences
    /// decoding: `proposalThreshold(decodes:cost:)` at the measured cost (and the draft's);
    /// with several sequences, what their own steps' measured times say
    /// (`VerificationCostModel.batchThreshold(decodes:)`) where that asks more, as a full
    /// step's next token costs more than a window's slope (never less: their measurements
    /// are fewer and noisier).
    func stepProposalThreshold(decodes: Int) -> Double {
        let linear = Self.proposalThreshold(decodes: decodes, cost: verificationCost.cost + draftTokenCost)
        guard decodes >= 2, let measured = verificationCost.batchThreshold(decodes: decodes) else { return linear }
        return max(linear, measured)
    }

    /// Appends to `chunks` a decode chunk with up to `proposals` proposed tokens after the
    /// sequence's last one, their slots reserved as tentative, and returns how many it
    /// proposed; 0 — nothing changed — when the sequence does not speculate, has no proposal,
    /// or the blocks for them are not free. (A count, not an optional chunk: a `ScheduledChunk?`
    /// here had the runtime build its metadata, a heap allocation, on the first speculating
    /// step, which can come long after decoding started.)
    private func reserveSpeculating(
        _ sequence: SequenceState, proposals: Int, threshold: Double, into chunks: inout [ScheduledChunk]
    ) -> Int {
        guard sequence.uncomputed == 1, sequence.request.forked else { return 0 }
        // A match can only shorten the window the sequence's estimate allows (its acceptances
        // are the smaller of the two), so no search when that window is already empty.
        let room = min(proposals, sequence.room(contextLength: contextLength))
        guard room > 0, windowLength(sequence, threshold: threshold, matched: nil) > 0 else { return 0 }
        let started = monotonicSeconds()
        defer { draftingSeconds += monotonicSeconds() - started }
        // An n-gram copy is found first: how long its match has held sizes the window.
        var copy = NGramProposer.Match(continuation: 0, length: 0)
        if drafter == nil {
            guard let found = proposer.match(following: sequence.tokens) else { return 0 }
            copy = found
        }
        let limit = min(room, windowLength(sequence, threshold: threshold, matched: drafter == nil ? copy.length : nil))
        guard limit > 0 else { return 0 }
        sequence.speculation.window.removeAll(keepingCapacity: true)
        sequence.speculation.window.append(sequence.tokens[sequence.tokens.count - 1])
        var drafted = 0
        var draftRow: Int?
        if let drafter {
            (drafted, draftRow) = drafter.propose(for: sequence, limit: limit, into: &sequence.speculation.window)
        } else {
            drafted = proposer.propose(from: copy, in: sequence.tokens, limit: limit, into: &sequence.speculation.window)
        }
        let start = sequence.computed
        guard drafted > 0,
              kv.reserveSlots(sequence.id, tokens: sequence.speculation.window[...], tentative: drafted)
        else { return 0 }
        chunks.append(ScheduledChunk(sequence: sequence, start: start, count: drafted + 1, drafted: drafted,
                                     draftRow: draftRow))
        return drafted
    }

    /// Proposals `sequence` should make this step (`SpeculationState`): sized by the measured
    /// window times when it decodes alone, else each one weighed against `threshold`; with
    /// `matched`, the length of its n-gram copy's match.
    private func windowLength(_ sequence: SequenceState, threshold: Double, matched: Int?) -> Int {
        windowTimes.isEmpty
            ? sequence.speculation.length(threshold: threshold, matched: matched)
            : sequence.speculation.length(stepTimes: windowTimes, matched: matched)
    }

    /// Frees the sequence's blocks (if it holds any); its K/V must then be recomputed.
    private func release(_ sequence: SequenceState) {
        drafter?.forget(sequence.id)
        if sequence.registered { kv.free(sequence.id) }
        sequence.registered = false
        sequence.computed = 0
    }

    /// Takes a running sequence's blocks and queues it at the front: swapped out when the
    /// cost model prefers that and the swap succeeds, else freed for recomputation of all
    /// its tokens.
    private func preempt(_ sequence: SequenceState) {
        drafter?.forget(sequence.id)
        if !swapOut(sequence) { release(sequence) }
        sequence.status = .waiting
        sequence.request.preemptions += 1
        preemptions += 1
        running.removeAll { $0 === sequence }
        waiting.insert(sequence, at: 0)
    }

    /// Swaps a running sequence out if there is a tier, something to free, and the cost
    /// model prefers it; returns whether it did (false leaves it resident: full tier or
    /// failed write included).
    private func swapOut(_ sequence: SequenceState) -> Bool {
        guard let tier = kv.swapTier, sequence.registered else { return false }
        let blocks = kv.swappableBlocks(sequence.id)
        guard costModel.choose(swapBytes: blocks * tier.slotBytes, recomputeTokens: sequence.computed) == .swap
        else { return false }
        let start = monotonicSeconds()
        do {
            let bytes = try kv.swapOut(sequence.id)
            costModel.recordSwap(bytes: bytes, seconds: monotonicSeconds() - start)
        } catch {
            return false  // tier full or write failed: recompute instead
        }
        swapPreemptions += 1
        return true
    }

    /// Brings a swapped-out sequence back before admission. Returns false — nothing changed
    /// — when too few blocks are free for it and its next chunk (just for it when nothing
    /// else runs, so a sequence that fit before always fits again); true once it is resident
    /// again, or once a failed read dropped it (it is then no longer registered and is
    /// recomputed like a new sequence).
    private func swapIn(_ sequence: SequenceState, budget: Int) -> Bool {
        let needed = kv.swapInBlocksNeeded(sequence.id)
        let chunkBlocks = running.isEmpty ? 0 : (min(sequence.uncomputed, budget) + kv.blockSize - 1) / kv.blockSize + 1
        guard needed + chunkBlocks <= kv.stats.freeBlocks else { return false }
        let start = monotonicSeconds()
        do {
            guard let bytes = try kv.swapIn(sequence.id) else { return false }
            costModel.recordSwap(bytes: bytes, seconds: monotonicSeconds() - start)
        } catch {
            sequence.registered = false
            sequence.computed = 0
        }
        return true
    }
}
