import CanopyModel

/// What the engine reports about one request, in order: token events as they are produced
/// (interleaved across samples when `n > 1`), one `finished` per sample, then `completed`.
public enum EngineEvent: Sendable {
    /// A sample produced a token.
    case token(TokenOutput)
    /// A sample ended.
    case finished(sample: Int, reason: FinishReason)
    /// Every sample ended; the last event of the request.
    case completed(RequestOutput)
}

/// One generated token of one sample.
public struct TokenOutput: Sendable {
    /// Which sample (0..<n) produced it.
    public var sample: Int
    /// Which branch of the sample's APAR tree (0: the root, the only one without forks).
    public var branch: Int = 0
    /// The branch it was forked from; nil for the root.
    public var parentBranch: Int?
    /// The token, with log-probabilities when requested.
    public var token: SampledToken
    /// Text that became final with this token (may be empty while a multi-byte character or
    /// a possible stop string is pending, or hold text of earlier tokens).
    public var text: String
}

/// The finished result of one sample.
public struct SampleOutput: Sendable, Equatable {
    /// Generated ids, including the end-of-generation token or the token that completed a
    /// stop string when generation stopped on one.
    public var tokenIDs: [Int32]
    /// Generated text, without end-of-generation tokens and cut before a matched stop string.
    public var text: String
    /// Why generation ended.
    public var finishReason: FinishReason
    /// Per-token log-probabilities, when requested.
    public var logprobs: [SampledToken]
    /// Every branch of the sample, the root first then by id, when APAR forked it (then
    /// `text` is the answer assembled from them and `tokenIDs` are the root's); else empty.
    public var branches: [BranchOutput] = []
}

/// One branch of an APAR answer (see `AparTokens`).
public struct BranchOutput: Sendable, Equatable {
    /// The branch (0: the root).
    public var id: Int
    /// The branch it was forked from; nil for the root.
    public var parent: Int?
    /// The branch's own ids: after the prompt for the root, from the child token on for a
    /// child; control tokens included.
    public var tokenIDs: [Int32]
    /// The branch's own text, control tokens left out.
    public var text: String
    /// Why the branch ended.
    public var finishReason: FinishReason
    /// Where each child's text goes: after this many characters of `text`, child `child`.
    public var forks: [Fork]

    /// Creates a branch result.
    public init(id: Int, parent: Int?, tokenIDs: [Int32], text: String, finishReason: FinishReason, forks: [Fork]) {
        self.id = id
        self.parent = parent
        self.tokenIDs = tokenIDs
        self.text = text
        self.finishReason = finishReason
        self.forks = forks
    }

    /// One fork of a branch.
    public struct Fork: Sendable, Equatable {
        /// Characters of the parent's text before the fork.
        public var textOffset: Int
        /// The child branch.
        public var child: Int

        /// Creates a fork.
        public init(textOffset: Int, child: Int) {
            self.textOffset = textOffset
            self.child = child
        }
    }
}

/// The finished result of one request.
public struct RequestOutput: Sendable {
    /// The request's identifier.
    public var id: String
    /// Prompt ids as run.
    public var promptTokenIDs: [Int32]
    /// One output per sample.
    public var samples: [SampleOutput]
    /// Timings and counts.
    public var metrics: RequestMetrics
    /// Why the engine failed the request, or nil. A failed request's samples end early and
    /// report `.cancelled` (no `.finished` event was sent for them); callers report the
    /// failure instead of the output.
    public var failure: ForwardError?
}

/// Latency and size of one request, all durations in seconds.
public struct RequestMetrics: Sendable, Equatable {
    /// From arrival to first being scheduled.
    public var queueTime: Double = 0
    /// From arrival to the first generated token.
    public var timeToFirstToken: Double = 0
    /// Mean gap between consecutive tokens of a sample (0 with fewer than two tokens).
    public var meanInterTokenLatency: Double = 0
    /// From arrival to completion.
    public var endToEndLatency: Double = 0
    /// Prompt tokens.
    public var promptTokens = 0
    /// Prompt tokens served from the prefix cache instead of computed.
    public var cachedPromptTokens = 0
    /// Generated tokens over all samples.
    public var generatedTokens = 0
    /// Times a sample of this request was preempted and recomputed.
    public var preemptions = 0
    /// Branches over all samples: `n` unless APAR forked some.
    public var branches = 1
}
