import CanopyModel
import CanopyKV
import CanopyTokenizer
import Dispatch

/// Seconds on a monotonic clock.
func monotonicSeconds() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

/// One branch of one sample being generated: its tokens, how many of them have K/V in the
/// cache, and everything that turns sampled ids into text. A sample is one branch (its
/// root) unless APAR forks it (see `AparTokens`): a child branch's tokens are its parent's
/// up to and including the fork token, the child token, then its own.
///
/// Invariant: `computed <= tokens.count`; the sequence needs a forward pass over
/// `tokens[computed...]`, and is sampled when that pass reaches the last token.
final class SequenceState {
    enum Status { case waiting, running, finished }

    let id: SequenceID
    /// Sample index within its request (0..<n).
    let sample: Int
    unowned let request: RequestState
    var tokens: [Int32]
    let promptCount: Int
    /// The branch within its sample's APAR tree (0: the root), its parent's, and how many
    /// forks deep it is.
    let branch: Int
    let parentBranch: Int?
    let depth: Int
    /// Where the branch's own tokens start in `tokens`: after the prompt for a root, at the
    /// child token for a child.
    let ownStart: Int
    /// The forks this branch made, in order: its text length then, and the child's branch.
    var forks: [(textOffset: Int, child: Int)] = []
    /// Tokens whose keys and values are in the cache.
    var computed = 0
    var status = Status.waiting
    /// Whether the KV manager knows the sequence (it holds blocks).
    var registered = false
    var sampler: Sampler
    /// Seen tokens, kept only when the request has penalties (nothing else reads it).
    var history: TokenHistory?
    var detokenizer: StreamingDetokenizer
    var stops: StopStringMatcher
    var text = ""
    var logprobs: [SampledToken] = []
    var finishReason: FinishReason?
    var lastTokenTime: Double?
    var gapSum = 0.0
    var gapCount = 0
    /// Speculative decoding: what this step verifies, and how much to propose next.
    var speculation: SpeculationState

    init(id: SequenceID, sample: Int, request: RequestState, tokens: [Int32], tokenizer: Tokenizer) {
        self.id = id
        self.sample = sample
        self.request = request
        self.tokens = tokens
        promptCount = request.promptIDs.count
        branch = 0
        parentBranch = nil
        depth = 0
        ownStart = promptCount
        sampler = Sampler(params: request.request.sampling, index: sample)
        history = request.request.sampling.hasPenalties ? TokenHistory(prompt: request.promptIDs) : nil
        detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        stops = StopStringMatcher(stops: request.request.stop.stopStrings)
        speculation = SpeculationState(maximum: request.speculativeTokens)
        reserveOutputStorage()
    }

    /// A copy of `parent` at the same point, for another sample of the same request.
    init(forking parent: SequenceState, id: SequenceID, sample: Int) {
        self.id = id
        self.sample = sample
        request = parent.request
        tokens = parent.tokens
        promptCount = parent.promptCount
        branch = 0
        parentBranch = nil
        depth = 0
        ownStart = promptCount
        computed = parent.computed
        status = parent.status
        registered = parent.registered
        sampler = Sampler(params: parent.request.request.sampling, index: sample)
        history = parent.history
        detokenizer = parent.detokenizer
        stops = parent.stops
        speculation = SpeculationState(maximum: parent.request.speculativeTokens)
        reserveOutputStorage()
    }

    /// A child branch of `parent`, which just sampled the fork token: it shares the
    /// parent's computed K/V (the caller forks the blocks), starts with `childToken`, and
    /// writes text of its own.
    init(branching parent: SequenceState, id: SequenceID, branch: Int, childToken: Int32, tokenizer: Tokenizer) {
        self.id = id
        sample = parent.sample
        request = parent.request
        tokens = parent.tokens
        promptCount = parent.promptCount
        self.branch = branch
        parentBranch = parent.branch
        depth = parent.depth + 1
        ownStart = parent.tokens.count
        computed = parent.computed
        status = parent.status
        registered = parent.registered
        // Each branch draws from a stream of its own, fixed by the seed, sample and branch.
        sampler = Sampler(params: parent.request.request.sampling, index: parent.sample | (branch << 32))
        history = parent.history
        detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        stops = StopStringMatcher(stops: parent.request.request.stop.stopStrings)
        speculation = SpeculationState(maximum: parent.request.speculativeTokens)
        reserveOutputStorage()
        tokens.append(childToken)
        history?.append(childToken)
    }

    /// Tokens the sequence can reach (prompt + `max_tokens`), for storage reserved up front;
    /// capped, since a request built without the preparer's context check could ask for any.
    var maximumLength: Int { promptCount + min(request.maxTokens, 1 << 16) }

    /// Reserves room for every token the sequence may generate and for typical text, so
    /// that accepting a token does not grow arrays (the decode loop's steady state
    /// allocates nothing; text past the reservation grows geometrically, amortised O(1)).
    private func reserveOutputStorage() {
        tokens.reserveCapacity(maximumLength)
        text.reserveCapacity(4 * min(request.maxTokens, 1024))
    }

    /// Tokens of the branch's own (generated, and a child's child token).
    var generatedCount: Int { tokens.count - ownStart }

    /// Tokens still to run through the model before the next sample.
    var uncomputed: Int { tokens.count - computed }

    /// Tokens the sequence may still generate after the one it is about to sample: what
    /// `max_tokens` leaves (all branches of an APAR request count) and the context length.
    func room(contextLength: Int) -> Int {
        let generated = request.apar == nil ? generatedCount : request.generatedTotal
        return min(request.maxTokens - generated - 1, contextLength - tokens.count)
    }

    /// Releases text held by the detokenizer and the stop matcher at the end of generation;
    /// reports whether that text completed a stop string (then only the text before it).
    func flushPending() -> (String, Bool) {
        let (piece, stopped) = stops.feed(detokenizer.finish())
        if stopped { return (piece, true) }
        return (piece + stops.finish(), false)
    }
}

/// One request in the engine: its samples, timings and where its events go.
final class RequestState {
    let request: Request
    let promptIDs: [Int32]
    let maxTokens: Int
    let endTokens: Set<Int32>
    let sink: @Sendable (EngineEvent) -> Void
    let arrival: Double
    var sequences: [SequenceState] = []
    /// Whether the `n` samples have been forked from the first one.
    var forked = false
    /// The request's APAR tokens when it may fork (see `ParallelParams`), else nil.
    let apar: AparTokens?
    /// Most speculative proposals per step for each of its sequences (0: none); set when the
    /// engine takes the request.
    var speculativeTokens = 0
    var firstScheduled: Double?
    var firstToken: Double?
    var cachedPromptTokens = 0
    var preemptions = 0
    var cancelled = false
    /// Why the request failed (a forward pass carrying it failed); nil otherwise.
    var failure: ForwardError?
    /// How far the reader of the request's event stream is behind; nil for a synchronous
    /// event handler, which never is.
    var backlog: EventBacklog?
    /// Since when the request has been held back for its reader (monotonic seconds).
    var heldBackSince: Double?
    /// The engine's key for this request.
    var key: UInt64 = 0

    init(request: Request, promptIDs: [Int32], maxTokens: Int, endTokens: Set<Int32>, apar: AparTokens? = nil,
         sink: @escaping @Sendable (EngineEvent) -> Void) {
        self.request = request
        self.apar = apar
        self.promptIDs = promptIDs
        self.maxTokens = maxTokens
        self.endTokens = endTokens
        self.sink = sink
        arrival = monotonicSeconds()
    }

    /// Tokens generated over all branches of all samples (each branch's own): what an APAR
    /// request's `max_tokens` counts. O(branches).
    var generatedTotal: Int { sequences.reduce(0) { $0 + $1.generatedCount } }

    /// The id the next child branch of sample `sample` gets: branches are numbered in the
    /// order they start, the root 0. O(branches).
    func nextBranchID(of sample: Int) -> Int { sequences.reduce(0) { $0 + ($1.sample == sample ? 1 : 0) } }

    /// Branches of the request not yet finished.
    var liveBranches: Int { sequences.reduce(0) { $0 + ($1.status == .finished ? 0 : 1) } }

    /// Whether every sample has ended.
    var isFinished: Bool { forked && sequences.allSatisfy { $0.status == .finished } }

    /// Whether the request's reader is too far behind for it to decode now (see
    /// `EventBacklog`); records since when, for the stalled-reader timeout.
    func isHeldBack(now: Double) -> Bool {
        guard let backlog, backlog.isFull else {
            heldBackSince = nil
            return false
        }
        if heldBackSince == nil { heldBackSince = now }
        return true
    }
}
