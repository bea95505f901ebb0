import CanopyKernels

/// The architectures Canopy can build, keyed by `general.architecture`: the one table that
/// says which files run and on what.
public enum ModelArchitectures {
    /// Builds an architecture's model over a file's weights.
    typealias Builder = @Sendable (WeightStore, ModelConfig, MatMulPrecision) throws(ModelError) -> any CausalLanguageModel

    static let registry: [String: Builder] = llamaVariants.mapValues(llama).merging([
        "gemma3": { store, config, precision throws(ModelError) in
            try Gemma3Model(store: store, config: config, precision: precision)
        },
    ]) { first, _ in first }

    private static func llama(_ variant: LlamaVariant) -> Builder {
        { store, config, precision throws(ModelError) in
            try LlamaModel(store: store, config: config, precision: precision, variant: variant)
        }
    }

    /// Names of the supported architectures, sorted.
    public static var supported: [String] { registry.keys.sorted() }

    /// Builds the model the file describes.
    /// - Throws: `ModelError.unsupportedArchitecture` (whose message lists `supported`) for
    ///   an architecture not in the table, or the architecture's own binding errors.
    public static func load(
        store: WeightStore, config: ModelConfig, precision: MatMulPrecision
    ) throws(ModelError) -> any CausalLanguageModel {
        guard let build = registry[config.architecture] else { throw .unsupportedArchitecture(config.architecture) }
        return try build(store, config, precision)
    }

    /// Builds one rank's part of the model the file describes: its `shard` of every layer
    /// and/or its pipeline `stage`'s blocks (see `TensorShard`, `PipelineStage`).
    /// - Throws: `.cannotShard` for an architecture parallelism does not split yet (those of
    ///   the Llama family are split), or the errors of `load(store:config:precision:)`.
    public static func load(
        store: WeightStore, config: ModelConfig, precision: MatMulPrecision, shard: TensorShard?,
        stage: PipelineStage?, exchange: any ShardExchange
    ) throws(ModelError) -> any CausalLanguageModel {
        guard registry[config.architecture] != nil else { throw .unsupportedArchitecture(config.architecture) }
        guard let variant = llamaVariants[config.architecture] else {
            throw .cannotShard("parallelism splits the \(llamaVariants.keys.sorted().joined(separator: ", ")) architectures, not \(config.architecture) yet")
        }
        return try LlamaModel(store: store, config: config, precision: precision, variant: variant, shard: shard,
                              stage: stage, exchange: exchange)
    }

    /// The architectures run by `LlamaModel`, and how each differs.
    static let llamaVariants: [String: LlamaVariant] = [
        "llama": .llama, "qwen2": .qwen2, "qwen2moe": .qwen2MoE, "qwen3": .qwen3, "phi3": .phi3,
    ]
}
