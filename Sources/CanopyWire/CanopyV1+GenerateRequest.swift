import CCanopyProto

extension CanopyV1 {
    /// One chat message (`canopy.v1.ChatMessage`).
    public struct ChatMessage: Sendable, Equatable {
        /// "system", "user" or "assistant".
        public var role: String
        /// The message text.
        public var content: String

        /// Creates a message.
        public init(role: String, content: String) {
            self.role = role
            self.content = content
        }
    }

    /// How the next token is chosen (`canopy.v1.SamplingParams`). A nil temperature, top-k,
    /// top-p, min-p or repetition penalty takes the served model's sampling defaults
    /// (`InfoResponse.samplingDefaults`); the other nil fields, the engine's.
    public struct SamplingParams: Sendable, Equatable {
        /// Softmax temperature; 0 is greedy.
        public var temperature: Float?
        /// Keep the `topK` most likely tokens; 0 disables the cut.
        public var topK: Int32?
        /// Nucleus cut in (0, 1]; 1 disables it.
        public var topP: Float?
        /// Drop tokens less likely than `minP` × the best one; 0 disables it.
        public var minP: Float?
        /// Seed of the request's random stream; nil draws one.
        public var seed: UInt64?
        /// Repetition penalty; 1 disables it.
        public var repetitionPenalty: Float?
        /// OpenAI frequency penalty in [-2, 2].
        public var frequencyPenalty: Float = 0
        /// OpenAI presence penalty in [-2, 2].
        public var presencePenalty: Float = 0
        /// Samples per prompt in [1, 64]; engine default 1.
        public var n: Int32?
        /// Top alternatives to report per token in [0, 20]; nil reports no log-probabilities.
        public var logprobs: Int32?

        /// Creates parameters that all take the engine defaults.
        public init() {}
    }

    /// When generation ends (`canopy.v1.StopParams`).
    public struct StopParams: Sendable, Equatable {
        /// Most tokens per sample; nil takes the server's default.
        public var maxTokens: Int32?
        /// Stop strings; they are not emitted.
        public var stop: [String] = []
        /// Extra token ids that end generation.
        public var stopTokenIDs: [Int32] = []
        /// Keep generating past end-of-generation tokens.
        public var ignoreEOS = false

        /// Creates parameters that stop at end-of-generation tokens or the server's default length.
        public init() {}
    }

    /// A generation request (`canopy.v1.GenerateRequest`).
    public struct GenerateRequest: Sendable, Equatable {
        /// The prompt, in one of the three accepted forms.
        public enum Input: Sendable, Equatable {
            /// Raw text; special tokens are recognised.
            case prompt(String)
            /// Token ids, used unchanged.
            case promptIDs([Int32])
            /// Chat messages, rendered with the model's chat template.
            case messages([ChatMessage])
        }

        /// Echoed back in the summary; the server makes one up when empty.
        public var requestID: String
        /// The prompt; nil is refused by the server (INVALID_ARGUMENT).
        public var input: Input?
        /// How tokens are chosen.
        public var sampling: SamplingParams
        /// When generation ends.
        public var stop: StopParams
        /// APAR forking; nil takes the engine's defaults.
        public var parallel: ParallelParams?
        /// Most speculative proposals per step: 0 turns speculation off for this request,
        /// 1...32 caps it, nil takes the daemon's setting. Changes speed only, never the output.
        public var speculativeTokens: Int32?

        /// Creates a request.
        public init(
            requestID: String = "", input: Input?, sampling: SamplingParams = SamplingParams(), stop: StopParams = StopParams(),
            parallel: ParallelParams? = nil, speculativeTokens: Int32? = nil
        ) {
            self.requestID = requestID
            self.input = input
            self.sampling = sampling
            self.stop = stop
            self.parallel = parallel
            self.speculativeTokens = speculativeTokens
        }
    }
}

extension CanopyV1.ChatMessage: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_chat_message_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__ChatMessage> {
        let c = try arena.message(Canopy__V1__ChatMessage.self, canopy__v1__chat_message__init)
        c.pointee.role = try arena.string(role)
        c.pointee.content = try arena.string(content)
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__ChatMessage>) {
        self.init(role: CRead.string(c.pointee.role), content: CRead.string(c.pointee.content))
    }
}

extension CanopyV1.SamplingParams: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_sampling_params_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__SamplingParams> {
        let c = try arena.message(Canopy__V1__SamplingParams.self, canopy__v1__sampling_params__init)
        c.pointee.frequency_penalty = frequencyPenalty
        c.pointee.presence_penalty = presencePenalty
        if let temperature {
            c.pointee.optional_temperature_case = CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_TEMPERATURE_TEMPERATURE
            c.pointee.temperature = temperature
        }
        if let topK {
            c.pointee.optional_top_k_case = CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_TOP_K_TOP_K
            c.pointee.top_k = topK
        }
        if let minP {
            c.pointee.optional_min_p_case = CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_MIN_P_MIN_P
            c.pointee.min_p = minP
        }
        if let topP {
            c.pointee.optional_top_p_case = CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_TOP_P_TOP_P
            c.pointee.top_p = topP
        }
        if let seed {
            c.pointee.optional_seed_case = CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_SEED_SEED
            c.pointee.seed = seed
        }
        if let repetitionPenalty {
            c.pointee.optional_repetition_penalty_case = CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_REPETITION_PENALTY_REPETITION_PENALTY
            c.pointee.repetition_penalty = repetitionPenalty
        }
        if let n {
            c.pointee.optional_n_case = CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_N_N
            c.pointee.n = n
        }
        if let logprobs {
            c.pointee.optional_logprobs_case = CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_LOGPROBS_LOGPROBS
            c.pointee.logprobs = logprobs
        }
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__SamplingParams>) {
        let m = c.pointee
        self.init()
        frequencyPenalty = m.frequency_penalty
        presencePenalty = m.presence_penalty
        if m.optional_temperature_case == CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_TEMPERATURE_TEMPERATURE { temperature = m.temperature }
        if m.optional_top_k_case == CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_TOP_K_TOP_K { topK = m.top_k }
        if m.optional_top_p_case == CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_TOP_P_TOP_P { topP = m.top_p }
        if m.optional_min_p_case == CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_MIN_P_MIN_P { minP = m.min_p }
        if m.optional_seed_case == CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_SEED_SEED { seed = m.seed }
        if m.optional_repetition_penalty_case == CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_REPETITION_PENALTY_REPETITION_PENALTY {
            repetitionPenalty = m.repetition_penalty
        }
        if m.optional_n_case == CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_N_N { n = m.n }
        if m.optional_logprobs_case == CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_LOGPROBS_LOGPROBS { logprobs = m.logprobs }
    }
}

extension CanopyV1.StopParams: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_stop_params_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__StopParams> {
        let c = try arena.message(Canopy__V1__StopParams.self, canopy__v1__stop_params__init)
        if let maxTokens {
            c.pointee.optional_max_tokens_case = CANOPY__V1__STOP_PARAMS__OPTIONAL_MAX_TOKENS_MAX_TOKENS
            c.pointee.max_tokens = maxTokens
        }
        c.pointee.n_stop = stop.count
        c.pointee.stop = try arena.array(stop.map { Optional(try arena.string($0)) })
        c.pointee.n_stop_token_ids = stopTokenIDs.count
        c.pointee.stop_token_ids = try arena.array(stopTokenIDs)
        c.pointee.ignore_eos = ignoreEOS ? 1 : 0
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__StopParams>) {
        let m = c.pointee
        self.init()
        if m.optional_max_tokens_case == CANOPY__V1__STOP_PARAMS__OPTIONAL_MAX_TOKENS_MAX_TOKENS { maxTokens = m.max_tokens }
        stop = CRead.array(m.stop, m.n_stop).map { CRead.string($0) }
        stopTokenIDs = CRead.array(m.stop_token_ids, m.n_stop_token_ids)
        ignoreEOS = m.ignore_eos != 0
    }
}

extension CanopyV1.GenerateRequest: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_generate_request_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__GenerateRequest> {
        let c = try arena.message(Canopy__V1__GenerateRequest.self, canopy__v1__generate_request__init)
        c.pointee.request_id = try arena.string(requestID)
        c.pointee.sampling = try sampling.makeC(in: arena)
        c.pointee.stop = try stop.makeC(in: arena)
        c.pointee.parallel = try parallel?.makeC(in: arena)
        if let speculativeTokens {
            c.pointee.optional_speculative_tokens_case =
                CANOPY__V1__GENERATE_REQUEST__OPTIONAL_SPECULATIVE_TOKENS_SPECULATIVE_TOKENS
            c.pointee.speculative_tokens = speculativeTokens
        }
        switch input {
        case nil:
            break
        case .prompt(let text):
            c.pointee.input_case = CANOPY__V1__GENERATE_REQUEST__INPUT_PROMPT
            c.pointee.prompt = try arena.string(text)
        case .promptIDs(let ids):
            let wrapper = try arena.message(Canopy__V1__TokenIds.self, canopy__v1__token_ids__init)
            wrapper.pointee.n_ids = ids.count
            wrapper.pointee.ids = try arena.array(ids)
            c.pointee.input_case = CANOPY__V1__GENERATE_REQUEST__INPUT_PROMPT_IDS
            c.pointee.prompt_ids = wrapper
        case .messages(let messages):
            let wrapper = try arena.message(Canopy__V1__ChatMessages.self, canopy__v1__chat_messages__init)
            wrapper.pointee.n_messages = messages.count
            wrapper.pointee.messages = try arena.pointers(messages.map { try $0.makeC(in: arena) })
            c.pointee.input_case = CANOPY__V1__GENERATE_REQUEST__INPUT_MESSAGES
            c.pointee.messages = wrapper
        }
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__GenerateRequest>) {
        let m = c.pointee
        let input: Input?
        switch m.input_case {
        case CANOPY__V1__GENERATE_REQUEST__INPUT_PROMPT:
            input = .prompt(CRead.string(m.prompt))
        case CANOPY__V1__GENERATE_REQUEST__INPUT_PROMPT_IDS:
            input = .promptIDs(m.prompt_ids.map { CRead.array($0.pointee.ids, $0.pointee.n_ids) } ?? [])
        case CANOPY__V1__GENERATE_REQUEST__INPUT_MESSAGES:
            input = .messages(m.messages.map {
                CRead.messages($0.pointee.messages, $0.pointee.n_messages, CanopyV1.ChatMessage.init(c:))
            } ?? [])
        default:
            input = nil
        }
        self.init(
            requestID: CRead.string(m.request_id), input: input,
            sampling: CRead.message(m.sampling, CanopyV1.SamplingParams.init(c:)) ?? .init(),
            stop: CRead.message(m.stop, CanopyV1.StopParams.init(c:)) ?? .init(),
            parallel: CRead.message(m.parallel, CanopyV1.ParallelParams.init(c:)),
            speculativeTokens: m.optional_speculative_tokens_case
                == CANOPY__V1__GENERATE_REQUEST__OPTIONAL_SPECULATIVE_TOKENS_SPECULATIVE_TOKENS
                ? m.speculative_tokens : nil)
    }
}
