import CanopyKernels

/// The architectures Canopy can build, keyed by `general.architecture`: the one table that
/// says which files run and on what.
public enum ModelArchitectures {
    /// Builds an architecture's model over a file's weights.
    typealias Builder = @Sendable (WeightStore, ModelConfig, MatMulPrecision) throws(ModelError) -> any CausalLanguageModel

    static let registry: [String: Builder] = [
        "llama": llama(.llama),
        "qwen2": llama(.qwen2),
        "qwen2moe": llama(.qwen2MoE),
        "qwen3": llama(.qwen3),
        "phi3": llama(.phi3),
        "gemma3": { store, config, precision throws(ModelError) in
            try Gemma3Model(store: store, config: config, precision: precision)
        },
    ]

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
}
