import CanopyKernels

extension RoPE {
    /// The rotation a model file describes: `config`'s rotated dimensions at
    /// `frequencyBase` (default `rope.freq_base`), paired as `style` says, with the file's
    /// `rope_freqs.weight` divisors when it has them (Llama 3.1's long-context scaling,
    /// precomputed by the converter).
    ///
    /// - Throws: `ModelError.unsupportedFeature` for Phi-3's LongRoPE tensors
    ///   (`rope_factors_long`/`_short`, the 128k-context models), which also rescale
    ///   attention; a wrong-sized `rope_freqs.weight` as a shape mismatch.
    init(config: ModelConfig, style: Style, store: WeightStore, frequencyBase: Float? = nil) throws(ModelError) {
        if store.contains("rope_factors_long.weight") || store.contains("rope_factors_short.weight") {
            throw .unsupportedFeature("LongRoPE frequency factors (rope_factors_long/short: a 128k-context Phi-3)")
        }
        let pairs = config.ropeDimensionCount / 2
        let factors = store.contains("rope_freqs.weight") ? try store.vector("rope_freqs.weight", count: pairs) : nil
        if let factors, let bad = factors.first(where: { !($0 > 0) || !$0.isFinite }) {
            throw .invalidMetadata(key: "rope_freqs.weight", reason: "frequency factor \(bad) is not a positive number")
        }
        self.init(dimensions: config.ropeDimensionCount, frequencyBase: frequencyBase ?? config.ropeFrequencyBase,
                  style: style, frequencyFactors: factors)
    }
}
