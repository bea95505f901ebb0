import CanopyKernels

/// How an architecture of the Llama family differs from Llama itself: the whole of what
/// `qwen2`, `qwen2moe`, `qwen3` and `phi3` add to `LlamaModel`'s pre-norm block.
///
/// Differences in the file's layout need no entry here, because `LlamaModel` binds whatever
/// the file holds: q/k/v biases (Qwen2), a fused `attn_qkv` and a fused gate/up `ffn_up`
/// (Phi-3), `rope_freqs` (Llama 3.1's long-context RoPE), a tied or separate output.
public struct LlamaVariant: Sendable, Equatable {
    /// How RoPE pairs a head's dimensions (llama.cpp's `llama_model_rope_type`).
    public let ropeStyle: RoPE.Style
    /// Whether each block RMS-normalises its query and key heads before RoPE.
    let headNorms: AttentionWeights.HeadNorms
    /// Whether the file must declare routed experts (`{arch}.expert_count`).
    let requiresExperts: Bool

    init(ropeStyle: RoPE.Style, headNorms: AttentionWeights.HeadNorms, requiresExperts: Bool = false) {
        self.ropeStyle = ropeStyle
        self.headNorms = headNorms
        self.requiresExperts = requiresExperts
    }

    /// Llama 1-3, SmolLM, Mistral: adjacent-pair RoPE.
    public static let llama = LlamaVariant(ropeStyle: .normal, headNorms: .absent)
    /// Qwen2 / Qwen2.5: NeoX RoPE; its q/k/v biases come with the file.
    public static let qwen2 = LlamaVariant(ropeStyle: .neox, headNorms: .absent)
    /// Qwen3: NeoX RoPE and per-head query/key norms (and heads wider than
    /// embedding / heads, which `ModelConfig` reads from `attention.key_length`).
    public static let qwen3 = LlamaVariant(ropeStyle: .neox, headNorms: .required)
    /// Qwen2-MoE: Qwen2 whose feed-forward networks are routed experts plus a
    /// sigmoid-gated shared expert (`MixtureOfExperts`).
    public static let qwen2MoE = LlamaVariant(ropeStyle: .neox, headNorms: .absent, requiresExperts: true)
    /// Phi-3: NeoX RoPE; fused projections come with the file. (llama.cpp scales queries by
    /// 1/√d before an unscaled attention, the same product as our scaled attention.)
    public static let phi3 = LlamaVariant(ropeStyle: .neox, headNorms: .absent)
}
