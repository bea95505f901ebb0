import CanopyModel
import CanopyKV
import CanopyTokenizer
import Dispatch

/// Seconds on a monotonic clock.
func monotonicSeconds() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

/// One sample being generated: its tokens, how many of them have K/V in the cache, and
/// everything that turns sampled ids into text.
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

    init(id: SequenceID, sample: Int, request: RequestState, tokens: [Int32], tokenizer: Tokenizer) {
        self.id = id
        self.sample = sample
        self.request = request
        self.tokens = tokens
        promptCount = request.promptIDs.count
        sampler = Sampler(params: request.request.sampling, index: sample)
        history = request.request.sampling.hasPenalties ? TokenHistory(prompt: request.promptIDs) : nil
        detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        stops = StopStringMatcher(stops: request.request.stop.stopStrings)
        reserveOutputStorage()
    }

    /// A copy of `parent` at the same point, for another sample of the same request.
    init(forking parent: SequenceState, id: SequenceID, sample: Int) {
        self.id = id
        self.sample = sample
        request = parent.request
        tokens = parent.tokens
        promptCount = parent.promptCount
        computed = parent.computed
        status = parent.status
        registered = parent.registered
        sampler = Sampler(params: parent.request.request.sampling, index: sample)
        history = parent.history
        detokenizer = parent.detokenizer
        stops = parent.stops
        reserveOutputStorage()
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

    /// Generated token count.
    var generatedCount: Int { tokens.count - promptCount }

    /// Tokens still to run through the model before the next sample.
    var uncomputed: Int { tokens.count - computed }

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

    init(request: Request, promptIDs: [Int32], maxTokens: Int, endTokens: Set<Int32>,
         sink: @escaping @Sendable (EngineEvent) -> Void) {
        self.request = request
        self.promptIDs = promptIDs
        self.maxTokens = maxTokens
        self.endTokens = endTokens
        self.sink = sink
        arrival = monotonicSeconds()
    }

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
