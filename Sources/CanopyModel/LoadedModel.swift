import CanopyGGUF
import CanopyKernels
import CanopyTokenizer

/// Why a model could not be opened, wrapping the layer that failed.
public enum ModelLoadError: Error, CustomStringConvertible {
    /// The file is not a readable GGUF file.
    case file(path: String, GGUFError)
    /// The GGUF file does not describe a model Canopy can run.
    case model(path: String, ModelError)
    /// The tokenizer stored in the file cannot be built.
    case tokenizer(path: String, TokenizerError)
    /// The expert cache (`--expert-cache`) cannot be set up.
    case expertCache(path: String, ExpertCacheError)
    /// The weight memory budget (`--weight-memory`) cannot be met, or is combined with an
    /// expert cache.
    case weightMemory(path: String, String)

    public var description: String {
        switch self {
        case .file(let path, let error): return "cannot read model file \(path): \(error)"
        case .model(let path, let error): return "cannot use model \(path): \(error)"
        case .tokenizer(let path, let error): return "cannot build the tokenizer of \(path): \(error)"
        case .expertCache(let path, let error): return "cannot set up the expert cache for \(path): \(error)"
        case .weightMemory(let path, let reason): return "cannot serve \(path) in the weight memory given: \(reason)"
        }
    }
}

/// Everything one model file provides: configuration, weights bound to an architecture,
/// tokenizer and chat template.
public final class LoadedModel: Sendable {
    /// The opened file.
    public let file: GGUFFile
    /// Hyperparameters decoded from the file.
    public let config: ModelConfig
    /// The architecture with its weights bound.
    public let model: any CausalLanguageModel
    /// The tokenizer built from the file's vocabulary.
    public let tokenizer: Tokenizer
    /// The chat template, or the reason there is none (chat requests then fail with it).
    public let chatTemplate: Result<ChatTemplate, TokenizerError>
    /// The routed-expert cache when experts are offloaded; nil when they are all mapped
    /// (dense model, no budget, or a budget that holds every expert).
    public let expertCache: ExpertCache?
    /// Which weights are streamed from the file under `--weight-memory`; nil when
    /// every weight is resident (no budget, or one the whole file fits in).
    public let weightResidency: WeightResidency?
    /// This process's part of every layer under tensor parallelism; nil when it holds all of it.
    public let shard: TensorShard?
    /// This process's blocks under pipeline parallelism; nil when it runs all of them.
    public let stage: PipelineStage?
    /// How this process exchanges results with the other ranks of its parallel job; nil in
    /// one process.
    public let exchange: (any ShardExchange)?
    /// Whether this process is one rank of a tensor- or pipeline-parallel job.
    public var isParallelRank: Bool { exchange != nil }
    /// Bytes of weights this process holds in memory: the file's tensors it read whole plus
    /// its parts of the split ones (under tensor parallelism about 1/ranks of the matrices).
    public let residentWeightBytes: Int
    /// Bytes of the interleaved copies of Q4_1 and Q8_0 matrices the kernels read (part of
    /// `residentWeightBytes`; 0 under a weight memory budget, which they would not fit).
    public let interleavedWeightBytes: Int

    /// How the model file on disk differs from the one loaded (truncated, rewritten in place,
    /// removed or replaced), or nil. The loaded weights are unaffected (they live in memory),
    /// but routed experts behind an expert cache are read from the file on demand, and a
    /// restart would load something else: callers stop taking requests.
    public func fileChange() -> String? { file.changeOnDisk() }

    /// Opens `path`, decodes its configuration, binds its weights and builds its tokenizer.
    ///
    /// - Parameter expertCacheBytes: for a mixture-of-experts model, the most bytes of routed
    ///   experts to keep resident (see `ExpertCache`); nil maps them all.
    /// - Parameter weightMemoryBytes: the most bytes of the model file to hold in memory; the
    ///   transformer blocks and output projection chunks that do not fit are streamed from
    ///   the file every forward pass, and the token embedding read by row (see
    ///   `WeightPlacement`, `WeightResidency`); nil holds the whole file.
    /// - Parameter weightPrefetch: whether streamed weights are read ahead of use (false:
    ///   only when needed; for measuring what prefetching buys).
    /// - Parameter exchange: makes this process one rank of a parallel job: it reads and
    ///   computes only its `TensorShard` of the layers (tensor parallelism) of its
    ///   `PipelineStage`'s blocks (pipeline parallelism), combining results through `exchange`
    ///   (not combinable with the expert cache or a weight memory budget).
    public init(
        path: String, precision: MatMulPrecision = .quantizedActivations, expertCacheBytes: Int? = nil,
        weightMemoryBytes: Int? = nil, weightPrefetch: Bool = true, exchange: (any ShardExchange)? = nil
    ) throws(ModelLoadError) {
        do {
            file = try GGUFFile(path: path)
        } catch {
            throw .file(path: path, error)
        }
        do {
            config = try ModelConfig(gguf: file)
        } catch {
            throw .model(path: path, error)
        }
        var shard: TensorShard?
        var stage: PipelineStage?
        if let exchange {
            guard expertCacheBytes == nil, weightMemoryBytes == nil else {
                throw .model(path: path, .cannotShard("--expert-cache and --weight-memory do not combine with tensor or pipeline parallelism yet"))
            }
            do {
                if exchange.ranks > 1 {
                    shard = try TensorShard(rank: exchange.rank, ranks: exchange.ranks, config: config, file: file)
                }
                if exchange.stages > 1 { stage = try PipelineStage(stage: exchange.stage, stages: exchange.stages, config: config) }
            } catch {
                throw .model(path: path, error)
            }
        }
        self.shard = shard
        self.stage = stage
        self.exchange = exchange
        // A rank reads its parts of the split matrices itself (WeightStore), and nothing of
        // the blocks other stages run.
        let dataOffset = file.dataOffset
        let tied = file.tensor(named: "output.weight") == nil
        let unreadTensors = file.tensors.filter { tensor in
            (shard != nil && TensorShard.isSplit(tensor.name)) || !(stage?.reads(tensor.name, tiedOutput: tied) ?? true)
        }
        let splitRanges = unreadTensors.map { tensor in
            (dataOffset + tensor.offset)..<(dataOffset + tensor.offset + tensor.byteCount)
        }
        do throws(ExpertCacheError) {
            if let bytes = expertCacheBytes {
                expertCache = try ExpertCache.make(file: file, config: config, budgetBytes: bytes)
            } else {
                expertCache = nil
            }
        } catch {
            throw .expertCache(path: path, error)
        }
        var placement: WeightPlacement?
        if let budget = weightMemoryBytes {
            // Routed experts behind an expert cache have their own budget (`--expert-cache`).
            do {
                placement = try WeightPlacement.plan(
                    file: file, blockCount: config.blockCount, budgetBytes: budget, prefetch: weightPrefetch,
                    excluding: expertCache?.fileRanges ?? [])
            } catch {
                throw .weightMemory(path: path, error.description)
            }
        }
        do {
            // Weights are read into memory rather than served from the file's mapping, so a
            // file truncated or rewritten under a running process cannot crash it (SIGBUS) or
            // change its answers; `fileChange()` reports such a change.
            try file.readIntoMemory(
                skipping: (expertCache?.fileRanges ?? []) + (placement?.unreadRanges ?? []) + splitRanges,
                streaming: placement?.streamedUnits ?? [], streamingWindow: placement?.windowUnits ?? 0)
        } catch {
            throw .file(path: path, error)
        }
        let opened = file
        weightResidency = placement.map { WeightResidency(file: opened, placement: $0) }
        do {
            let store = WeightStore(
                file: file, expertCache: expertCache, residency: weightResidency,
                interleavesWeights: precision == .quantizedActivations && weightMemoryBytes == nil)
            if let exchange {
                model = try ModelArchitectures.load(
                    store: store, config: config, precision: precision, shard: shard, stage: stage, exchange: exchange)
            } else {
                model = try ModelArchitectures.load(store: store, config: config, precision: precision)
            }
            let unread = splitRanges.reduce(0) { $0 + $1.count }
            residentWeightBytes = file.tensors.reduce(0) { $0 + $1.byteCount } - unread + store.partBytes
                + store.interleavedBytes
            interleavedWeightBytes = store.interleavedBytes
        } catch {
            throw .model(path: path, error)
        }
        do {
            tokenizer = try Tokenizer(vocabulary: TokenizerVocabulary(gguf: file))
        } catch {
            throw .tokenizer(path: path, error)
        }
        do throws(TokenizerError) {
            chatTemplate = .success(try ChatTemplate(template: file.string("tokenizer.chat_template")))
        } catch {
            chatTemplate = .failure(error)
        }
    }

    /// Tokens routed per block and expert since load, for models with experts; nil otherwise.
    public var expertLoad: ExpertLoadCounters? {
        (model as? any ExpertLoadReporting)?.expertLoad
    }

    /// A short description of the file's tensor types, e.g. `Q4_1 (210), F32 (61), Q8_0 (1)`.
    public var quantizationSummary: String {
        var counts: [GGMLType: Int] = [:]
        for tensor in file.tensors { counts[tensor.type, default: 0] += 1 }
        return counts.sorted { $0.value > $1.value }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
    }
}
