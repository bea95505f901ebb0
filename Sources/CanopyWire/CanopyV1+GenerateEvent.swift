import CCanopyProto

extension CanopyV1 {
    /// A token id with its log-probability (`canopy.v1.TokenLogprob`).
    public struct TokenLogprob: Sendable, Equatable {
        /// The token.
        public var id: Int32
        /// Its log-probability.
        public var logprob: Float

        /// Creates an entry.
        public init(id: Int32, logprob: Float) {
            self.id = id
            self.logprob = logprob
        }
    }

    /// A sampled token with its log-probabilities when requested (`canopy.v1.SampledToken`).
    public struct SampledToken: Sendable, Equatable {
        /// The token.
        public var id: Int32
        /// Its log-probability, when requested.
        public var logprob: Float?
        /// The most likely alternatives, when requested.
        public var topLogprobs: [TokenLogprob]

        /// Creates a token.
        public init(id: Int32, logprob: Float? = nil, topLogprobs: [TokenLogprob] = []) {
            self.id = id
            self.logprob = logprob
            self.topLogprobs = topLogprobs
        }
    }

    /// One generated token of one sample (`canopy.v1.TokenDelta`).
    public struct TokenDelta: Sendable, Equatable {
        /// Which sample (0..<n).
        public var sample: UInt32
        /// The token.
        public var token: SampledToken
        /// Text that became final with this token (may be empty or hold earlier tokens' text).
        public var text: String
        /// The APAR branch within the sample (0: the root).
        public var branch: UInt32
        /// The branch it forked from; nil for the root.
        public var parentBranch: UInt32?

        /// Creates a delta.
        public init(sample: UInt32, token: SampledToken, text: String, branch: UInt32 = 0, parentBranch: UInt32? = nil) {
            self.sample = sample
            self.token = token
            self.text = text
            self.branch = branch
            self.parentBranch = parentBranch
        }
    }

    /// A sample ended (`canopy.v1.SampleFinished`).
    public struct SampleFinished: Sendable, Equatable {
        /// Which sample.
        public var sample: UInt32
        /// Why it ended.
        public var reason: FinishReason

        /// Creates the event.
        public init(sample: UInt32, reason: FinishReason) {
            self.sample = sample
            self.reason = reason
        }
    }

    /// The result of one sample (`canopy.v1.SampleResult`).
    public struct SampleResult: Sendable, Equatable {
        /// Which sample.
        public var index: UInt32
        /// Why it ended.
        public var finishReason: FinishReason
        /// Generated ids, including a final end-of-generation token.
        public var tokenIDs: [Int32]
        /// Generated text, without end tokens, cut before a stop string.
        public var text: String
        /// Per-token log-probabilities, when requested.
        public var logprobs: [SampledToken]
        /// Every branch when APAR forked the sample (then `text` is assembled from them).
        public var branches: [BranchResult]

        /// Creates a result.
        public init(
            index: UInt32, finishReason: FinishReason, tokenIDs: [Int32], text: String, logprobs: [SampledToken] = [],
            branches: [BranchResult] = []
        ) {
            self.index = index
            self.finishReason = finishReason
            self.tokenIDs = tokenIDs
            self.text = text
            self.logprobs = logprobs
            self.branches = branches
        }
    }

    /// Token counts of a request (`canopy.v1.Usage`).
    public struct Usage: Sendable, Equatable {
        /// Prompt tokens.
        public var promptTokens: UInt32 = 0
        /// Generated tokens over all samples.
        public var completionTokens: UInt32 = 0
        /// Prompt tokens served from the prefix cache.
        public var cachedPromptTokens: UInt32 = 0
        /// Times a sample was preempted and recomputed.
        public var preemptions: UInt32 = 0
        /// Branches over all samples (n unless APAR forked).
        public var branches: UInt32 = 0

        /// Creates zero counts.
        public init() {}
    }

    /// Latencies of a request in seconds (`canopy.v1.Timings`).
    public struct Timings: Sendable, Equatable {
        /// Arrival to first scheduled.
        public var queueSeconds = 0.0
        /// Arrival to first generated token.
        public var timeToFirstTokenSeconds = 0.0
        /// Mean gap between consecutive tokens of a sample.
        public var meanInterTokenLatencySeconds = 0.0
        /// Arrival to completion.
        public var endToEndSeconds = 0.0

        /// Creates zero timings.
        public init() {}
    }

    /// The final event of a generation (`canopy.v1.GenerateSummary`).
    public struct GenerateSummary: Sendable, Equatable {
        /// The request's identifier.
        public var requestID: String = ""
        /// Prompt ids as run.
        public var promptTokenIDs: [Int32] = []
        /// One result per sample.
        public var samples: [SampleResult] = []
        /// Token counts.
        public var usage = Usage()
        /// Latencies.
        public var timings = Timings()

        /// Creates an empty summary.
        public init() {}
    }

    /// One event of a `Generate` stream (`canopy.v1.GenerateEvent`).
    public enum GenerateEvent: Sendable, Equatable {
        /// A sample produced a token.
        case token(TokenDelta)
        /// A sample ended.
        case sampleFinished(SampleFinished)
        /// Every sample ended; always the last event.
        case summary(GenerateSummary)
        /// An event kind added in a later protocol version; skip it.
        case unknown
    }
}

extension CanopyV1.TokenLogprob: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_token_logprob_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__TokenLogprob> {
        let c = try arena.message(Canopy__V1__TokenLogprob.self, canopy__v1__token_logprob__init)
        c.pointee.id = id
        c.pointee.logprob = logprob
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__TokenLogprob>) {
        self.init(id: c.pointee.id, logprob: c.pointee.logprob)
    }
}

extension CanopyV1.SampledToken: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_sampled_token_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__SampledToken> {
        let c = try arena.message(Canopy__V1__SampledToken.self, canopy__v1__sampled_token__init)
        c.pointee.id = id
        if let logprob {
            c.pointee.optional_logprob_case = CANOPY__V1__SAMPLED_TOKEN__OPTIONAL_LOGPROB_LOGPROB
            c.pointee.logprob = logprob
        }
        c.pointee.n_top_logprobs = topLogprobs.count
        c.pointee.top_logprobs = try arena.pointers(topLogprobs.map { try $0.makeC(in: arena) })
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__SampledToken>) {
        let m = c.pointee
        self.init(
            id: m.id,
            logprob: m.optional_logprob_case == CANOPY__V1__SAMPLED_TOKEN__OPTIONAL_LOGPROB_LOGPROB ? m.logprob : nil,
            topLogprobs: CRead.messages(m.top_logprobs, m.n_top_logprobs, CanopyV1.TokenLogprob.init(c:)))
    }
}

extension CanopyV1.TokenDelta: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_token_delta_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__TokenDelta> {
        let c = try arena.message(Canopy__V1__TokenDelta.self, canopy__v1__token_delta__init)
        c.pointee.sample = sample
        c.pointee.token = try token.makeC(in: arena)
        c.pointee.text = try arena.string(text)
        c.pointee.branch = branch
        if let parentBranch {
            c.pointee.optional_parent_branch_case = CANOPY__V1__TOKEN_DELTA__OPTIONAL_PARENT_BRANCH_PARENT_BRANCH
            c.pointee.parent_branch = parentBranch
        }
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__TokenDelta>) {
        let m = c.pointee
        self.init(
            sample: m.sample, token: CRead.message(m.token, CanopyV1.SampledToken.init(c:)) ?? .init(id: 0),
            text: CRead.string(m.text), branch: m.branch,
            parentBranch: m.optional_parent_branch_case == CANOPY__V1__TOKEN_DELTA__OPTIONAL_PARENT_BRANCH_PARENT_BRANCH
                ? m.parent_branch : nil)
    }
}

extension CanopyV1.SampleFinished: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_sample_finished_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__SampleFinished> {
        let c = try arena.message(Canopy__V1__SampleFinished.self, canopy__v1__sample_finished__init)
        c.pointee.sample = sample
        c.pointee.reason = reason.c
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__SampleFinished>) {
        self.init(sample: c.pointee.sample, reason: .init(c: c.pointee.reason))
    }
}

extension CanopyV1.SampleResult: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_sample_result_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__SampleResult> {
        let c = try arena.message(Canopy__V1__SampleResult.self, canopy__v1__sample_result__init)
        c.pointee.index = index
        c.pointee.finish_reason = finishReason.c
        c.pointee.n_token_ids = tokenIDs.count
        c.pointee.token_ids = try arena.array(tokenIDs)
        c.pointee.text = try arena.string(text)
        c.pointee.n_logprobs = logprobs.count
        c.pointee.logprobs = try arena.pointers(logprobs.map { try $0.makeC(in: arena) })
        c.pointee.n_branches = branches.count
        c.pointee.branches = try arena.pointers(branches.map { try $0.makeC(in: arena) })
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__SampleResult>) {
        let m = c.pointee
        self.init(
            index: m.index, finishReason: .init(c: m.finish_reason),
            tokenIDs: CRead.array(m.token_ids, m.n_token_ids), text: CRead.string(m.text),
            logprobs: CRead.messages(m.logprobs, m.n_logprobs, CanopyV1.SampledToken.init(c:)),
            branches: CRead.messages(m.branches, m.n_branches, CanopyV1.BranchResult.init(c:)))
    }
}

extension CanopyV1.Usage: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_usage_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__Usage> {
        let c = try arena.message(Canopy__V1__Usage.self, canopy__v1__usage__init)
        c.pointee.prompt_tokens = promptTokens
        c.pointee.completion_tokens = completionTokens
        c.pointee.cached_prompt_tokens = cachedPromptTokens
        c.pointee.preemptions = preemptions
        c.pointee.branches = branches
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__Usage>) {
        self.init()
        promptTokens = c.pointee.prompt_tokens
        completionTokens = c.pointee.completion_tokens
        cachedPromptTokens = c.pointee.cached_prompt_tokens
        preemptions = c.pointee.preemptions
        branches = c.pointee.branches
    }
}

extension CanopyV1.Timings: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_timings_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__Timings> {
        let c = try arena.message(Canopy__V1__Timings.self, canopy__v1__timings__init)
        c.pointee.queue_seconds = queueSeconds
        c.pointee.time_to_first_token_seconds = timeToFirstTokenSeconds
        c.pointee.mean_inter_token_latency_seconds = meanInterTokenLatencySeconds
        c.pointee.end_to_end_seconds = endToEndSeconds
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__Timings>) {
        self.init()
        queueSeconds = c.pointee.queue_seconds
        timeToFirstTokenSeconds = c.pointee.time_to_first_token_seconds
        meanInterTokenLatencySeconds = c.pointee.mean_inter_token_latency_seconds
        endToEndSeconds = c.pointee.end_to_end_seconds
    }
}

extension CanopyV1.GenerateSummary: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_generate_summary_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__GenerateSummary> {
        let c = try arena.message(Canopy__V1__GenerateSummary.self, canopy__v1__generate_summary__init)
        c.pointee.request_id = try arena.string(requestID)
        c.pointee.n_prompt_token_ids = promptTokenIDs.count
        c.pointee.prompt_token_ids = try arena.array(promptTokenIDs)
        c.pointee.n_samples = samples.count
        c.pointee.samples = try arena.pointers(samples.map { try $0.makeC(in: arena) })
        c.pointee.usage = try usage.makeC(in: arena)
        c.pointee.timings = try timings.makeC(in: arena)
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__GenerateSummary>) {
        let m = c.pointee
        self.init()
        requestID = CRead.string(m.request_id)
        promptTokenIDs = CRead.array(m.prompt_token_ids, m.n_prompt_token_ids)
        samples = CRead.messages(m.samples, m.n_samples, CanopyV1.SampleResult.init(c:))
        usage = CRead.message(m.usage, CanopyV1.Usage.init(c:)) ?? .init()
        timings = CRead.message(m.timings, CanopyV1.Timings.init(c:)) ?? .init()
    }
}

extension CanopyV1.GenerateEvent: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_generate_event_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__GenerateEvent> {
        let c = try arena.message(Canopy__V1__GenerateEvent.self, canopy__v1__generate_event__init)
        switch self {
        case .token(let delta):
            c.pointee.event_case = CANOPY__V1__GENERATE_EVENT__EVENT_TOKEN
            c.pointee.token = try delta.makeC(in: arena)
        case .sampleFinished(let finished):
            c.pointee.event_case = CANOPY__V1__GENERATE_EVENT__EVENT_SAMPLE_FINISHED
            c.pointee.sample_finished = try finished.makeC(in: arena)
        case .summary(let summary):
            c.pointee.event_case = CANOPY__V1__GENERATE_EVENT__EVENT_SUMMARY
            c.pointee.summary = try summary.makeC(in: arena)
        case .unknown:
            break
        }
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__GenerateEvent>) {
        let m = c.pointee
        switch m.event_case {
        case CANOPY__V1__GENERATE_EVENT__EVENT_TOKEN:
            self = CRead.message(m.token, CanopyV1.TokenDelta.init(c:)).map { .token($0) } ?? .unknown
        case CANOPY__V1__GENERATE_EVENT__EVENT_SAMPLE_FINISHED:
            self = CRead.message(m.sample_finished, CanopyV1.SampleFinished.init(c:)).map { .sampleFinished($0) } ?? .unknown
        case CANOPY__V1__GENERATE_EVENT__EVENT_SUMMARY:
            self = CRead.message(m.summary, CanopyV1.GenerateSummary.init(c:)).map { .summary($0) } ?? .unknown
        default:
            self = .unknown
        }
    }
}
