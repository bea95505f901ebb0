import CCanopyProto

extension CanopyV1 {
    /// Asks for the model and engine description (`canopy.v1.InfoRequest`, no fields yet).
    public struct InfoRequest: Sendable, Equatable {
        /// Creates the request.
        public init() {}
    }

    /// The engine's configuration (`canopy.v1.EngineConfig`).
    public struct EngineConfig: Sendable, Equatable {
        /// Bytes of the KV arena.
        public var kvCacheMemoryBytes: UInt64 = 0
        /// Token positions per KV block.
        public var blockSize: UInt32 = 0
        /// KV element encoding: "f32", "f16" or "q8".
        public var kvPrecision = ""
        /// Most tokens one step runs.
        public var maxBatchedTokens: UInt32 = 0
        /// Most sequences running at once.
        public var maxSequences: UInt32 = 0
        /// Most requests waiting before new ones are refused.
        public var maxWaitingRequests: UInt32 = 0
        /// Whether identical prompt prefixes share KV blocks.
        public var prefixCaching = false
        /// `max_tokens` of requests that set none; nil means up to the context length.
        public var defaultMaxTokens: UInt32?
        /// Blocks in the KV arena.
        public var kvTotalBlocks: UInt32 = 0
        /// Speculative decoding mode: "off", "ngram" or "draft".
        public var speculative = ""
        /// Most proposed tokens a sequence verifies per step.
        public var speculativeTokens: UInt32 = 0
        /// Most decode tokens, proposals included, in a step that speculates; 0 is off.
        public var speculativeStepTokens: UInt32 = 0
        /// The draft model's path as the daemon was given it (`--draft-model`); empty when
        /// there is none.
        public var draftModel = ""
        /// Most a step's prefill may slow the decodes beside it, as a multiple of their time
        /// alone (`--max-decode-stall`); 0 is off.
        public var maxDecodeStall: Double = 0

        /// Creates an empty configuration.
        public init() {}
    }

    /// The model and the engine (`canopy.v1.InfoResponse`).
    public struct InfoResponse: Sendable, Equatable {
        /// The model file served.
        public var modelPath = ""
        /// GGUF architecture, e.g. "llama".
        public var architecture = ""
        /// Context length in tokens.
        public var contextLength: UInt32 = 0
        /// Vocabulary size.
        public var vocabSize: UInt32 = 0
        /// Tensor types and counts, e.g. "Q4_1 (210), F32 (61)".
        public var quantization = ""
        /// Total weight elements.
        public var parameterCount: UInt64 = 0
        /// Tensors in the file.
        public var tensorCount: UInt32 = 0
        /// The engine's configuration.
        public var engine = EngineConfig()
        /// The server's version string.
        public var serverVersion = ""
        /// Embedding width.
        public var embeddingLength: UInt32 = 0
        /// Transformer blocks.
        public var blockCount: UInt32 = 0
        /// Attention heads.
        public var headCount: UInt32 = 0
        /// Key/value heads.
        public var headCountKV: UInt32 = 0
        /// Recognised chat template family; empty when the model has none usable.
        public var chatTemplate = ""
        /// Under `--weight-memory`, the placement (what is resident, what is streamed);
        /// empty when every weight is resident.
        public var weightPlacement = ""
        /// Bytes read from the model file per forward pass under `--weight-memory`.
        public var weightReadBytesPerPass: UInt64 = 0
        /// What a request gets for each sampling parameter it leaves unset; nil from an
        /// older server.
        public var samplingDefaults: CanopyV1.SamplingDefaults?

        /// Creates an empty description.
        public init() {}
    }
}

extension CanopyV1.InfoRequest: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_info_request_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__InfoRequest> {
        try arena.message(Canopy__V1__InfoRequest.self, canopy__v1__info_request__init)
    }

    public init(c: UnsafePointer<Canopy__V1__InfoRequest>) { self.init() }
}

extension CanopyV1.EngineConfig: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_engine_config_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__EngineConfig> {
        let c = try arena.message(Canopy__V1__EngineConfig.self, canopy__v1__engine_config__init)
        c.pointee.kv_cache_memory_bytes = kvCacheMemoryBytes
        c.pointee.block_size = blockSize
        c.pointee.kv_precision = try arena.string(kvPrecision)
        c.pointee.max_batched_tokens = maxBatchedTokens
        c.pointee.max_sequences = maxSequences
        c.pointee.max_waiting_requests = maxWaitingRequests
        c.pointee.prefix_caching = prefixCaching ? 1 : 0
        if let defaultMaxTokens {
            c.pointee.optional_default_max_tokens_case = CANOPY__V1__ENGINE_CONFIG__OPTIONAL_DEFAULT_MAX_TOKENS_DEFAULT_MAX_TOKENS
            c.pointee.default_max_tokens = defaultMaxTokens
        }
        c.pointee.kv_total_blocks = kvTotalBlocks
        c.pointee.speculative = try arena.string(speculative)
        c.pointee.speculative_tokens = speculativeTokens
        c.pointee.speculative_step_tokens = speculativeStepTokens
        c.pointee.draft_model = try arena.string(draftModel)
        c.pointee.max_decode_stall = maxDecodeStall
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__EngineConfig>) {
        let m = c.pointee
        self.init()
        kvCacheMemoryBytes = m.kv_cache_memory_bytes
        blockSize = m.block_size
        kvPrecision = CRead.string(m.kv_precision)
        maxBatchedTokens = m.max_batched_tokens
        maxSequences = m.max_sequences
        maxWaitingRequests = m.max_waiting_requests
        prefixCaching = m.prefix_caching != 0
        if m.optional_default_max_tokens_case == CANOPY__V1__ENGINE_CONFIG__OPTIONAL_DEFAULT_MAX_TOKENS_DEFAULT_MAX_TOKENS {
            defaultMaxTokens = m.default_max_tokens
        }
        kvTotalBlocks = m.kv_total_blocks
        speculative = CRead.string(m.speculative)
        speculativeTokens = m.speculative_tokens
        speculativeStepTokens = m.speculative_step_tokens
        draftModel = CRead.string(m.draft_model)
        maxDecodeStall = m.max_decode_stall
    }
}

extension CanopyV1.InfoResponse: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_info_response_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__InfoResponse> {
        let c = try arena.message(Canopy__V1__InfoResponse.self, canopy__v1__info_response__init)
        c.pointee.model_path = try arena.string(modelPath)
        c.pointee.architecture = try arena.string(architecture)
        c.pointee.context_length = contextLength
        c.pointee.vocab_size = vocabSize
        c.pointee.quantization = try arena.string(quantization)
        c.pointee.parameter_count = parameterCount
        c.pointee.tensor_count = tensorCount
        c.pointee.engine = try engine.makeC(in: arena)
        c.pointee.server_version = try arena.string(serverVersion)
        c.pointee.embedding_length = embeddingLength
        c.pointee.block_count = blockCount
        c.pointee.head_count = headCount
        c.pointee.head_count_kv = headCountKV
        c.pointee.chat_template = try arena.string(chatTemplate)
        c.pointee.weight_placement = try arena.string(weightPlacement)
        c.pointee.weight_read_bytes_per_pass = weightReadBytesPerPass
        c.pointee.sampling_defaults = try samplingDefaults?.makeC(in: arena)
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__InfoResponse>) {
        let m = c.pointee
        self.init()
        modelPath = CRead.string(m.model_path)
        architecture = CRead.string(m.architecture)
        contextLength = m.context_length
        vocabSize = m.vocab_size
        quantization = CRead.string(m.quantization)
        parameterCount = m.parameter_count
        tensorCount = m.tensor_count
        engine = CRead.message(m.engine, CanopyV1.EngineConfig.init(c:)) ?? .init()
        serverVersion = CRead.string(m.server_version)
        embeddingLength = m.embedding_length
        blockCount = m.block_count
        headCount = m.head_count
        headCountKV = m.head_count_kv
        chatTemplate = CRead.string(m.chat_template)
        weightPlacement = CRead.string(m.weight_placement)
        weightReadBytesPerPass = m.weight_read_bytes_per_pass
        samplingDefaults = CRead.message(m.sampling_defaults, CanopyV1.SamplingDefaults.init(c:))
    }
}
