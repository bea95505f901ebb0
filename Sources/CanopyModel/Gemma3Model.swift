import CanopyKernels

/// Gemma 3 (`gemma3`), as llama.cpp's `src/models/gemma3.cpp` builds it. Its differences
/// from Llama:
/// - the token embedding is scaled by √(embedding width);
/// - queries and keys are RMS-normalised per head (`attn_q_norm`, `attn_k_norm`) before a
///   NeoX RoPE;
/// - five of every six layers (`sliding_window_pattern`, default 6) attend through a sliding
///   window (`sliding_window`) with their own RoPE base (`rope.freq_base_swa`, default
///   10000); every sixth attends globally at `rope.freq_base`;
/// - the attention and feed-forward outputs are RMS-normalised (`post_attention_norm`,
///   `post_ffw_norm`) before their residual adds;
/// - the feed-forward network is GELU-gated (`gelu(gate) · up`).
/// The output projection is tied to the embedding when the file has no `output.weight`.
public struct Gemma3Model: CausalLanguageModel {
    /// Weights of one transformer block.
    struct Block: Sendable {
        var attention: AttentionWeights
        var postAttentionNorm: [Float]
        var feedForwardNorm: [Float]
        var feedForwardInputs: [WeightMatrix]  // gate, up
        var feedForwardDown: WeightMatrix
        var postFeedForwardNorm: [Float]
    }

    /// Layers between two global-attention layers when the file does not say (llama.cpp's).
    static let defaultSlidingWindowPattern = 6
    /// RoPE base of sliding-window layers when the file does not say (llama.cpp's).
    static let defaultSlidingWindowRopeBase: Float = 10_000

    public let config: ModelConfig
    /// How matrix products treat activations; `.quantizedActivations` follows llama.cpp.
    public let precision: MatMulPrecision
    let ends: DecoderEnds
    let blocks: [Block]
    let globalRope: RoPE
    let localRope: RoPE
    /// Per layer, the attention window (nil: global attention).
    private(set) var windows: [Int?]
    /// Queries are scaled by `queryScale` before attention, whose own scale is
    /// 1/√headDimension: 1 except for Gemma 3 27B (see `init`).
    let queryScale: Float
    let steps: LayerSteps

    /// Binds every weight the configuration implies, checking names and shapes.
    public init(store: WeightStore, config: ModelConfig, precision: MatMulPrecision) throws(ModelError) {
        self.config = config
        self.precision = precision
        let e = config.embeddingLength
        let d = config.headDimension
        ends = try DecoderEnds(store: store, config: config, embeddingScale: Float(e).squareRoot())
        var blocks: [Block] = []
        for i in 0..<config.blockCount {
            let p = "blk.\(i)."
            blocks.append(Block(
                attention: try AttentionWeights(store: store, config: config, prefix: p, headNorms: .required),
                postAttentionNorm: try store.vector(p + "post_attention_norm.weight", count: e),
                feedForwardNorm: try store.vector(p + "ffn_norm.weight", count: e),
                feedForwardInputs: [
                    try store.matrix(p + "ffn_gate.weight", rows: config.feedForwardLength, cols: e),
                    try store.matrix(p + "ffn_up.weight", rows: config.feedForwardLength, cols: e),
                ],
                feedForwardDown: try store.matrix(p + "ffn_down.weight", rows: e, cols: config.feedForwardLength),
                postFeedForwardNorm: try store.vector(p + "post_ffw_norm.weight", count: e)))
        }
        self.blocks = blocks
        globalRope = try RoPE(config: config, style: .neox, store: store)
        localRope = try RoPE(
            config: config, style: .neox, store: store,
            frequencyBase: config.slidingWindowRopeBase ?? Self.defaultSlidingWindowRopeBase)
        let pattern = config.slidingWindowPattern ?? Self.defaultSlidingWindowPattern
        windows = (0..<config.blockCount).map { layer in
            // As llama.cpp's `set_swa_pattern`: the last layer of every group is global.
            guard let window = config.slidingWindow, layer % pattern < pattern - 1 else { return nil }
            return window
        }
        // Gemma's attention scale is 1/√headDimension, except for the 27B model (62 blocks),
        // which uses 1/√(embedding / heads) (llama.cpp's `f_attention_scale`).
        let scale = config.blockCount == 62
            ? 1 / Float(e / config.headCount).squareRoot() : 1 / Float(d).squareRoot()
        queryScale = scale * Float(d).squareRoot()
        steps = LayerSteps(config: config, precision: precision, columnGroups: TensorShard.columnGroups(config, file: store.file))
    }

    public func forward(_ batch: ForwardBatch, kv: KVStorage, logits: UnsafeMutableBufferPointer<Float>) throws(ForwardError) {
        try ends.run(batch, kv: kv, logits: logits, config: config, precision: precision, rope: globalRope,
                     localRope: localRope) { layer, part, scratch in
            attention(block: blocks[layer], layer: layer, batch: part, kv: kv, scratch: scratch)
            feedForward(block: blocks[layer], tokens: part.count, scratch: scratch)
        }
    }

    private func attention(block: Block, layer: Int, batch: ForwardBatch, kv: KVStorage, scratch: ForwardScratch) {
        let c = config
        let n = batch.count
        steps.projectAttention(block.attention, tokens: n, scratch: scratch)
        if queryScale != 1 {
            scratch.tokenLoops.run(.scale(values: scratch.query, factor: queryScale, width: c.queryWidth), tokens: n)
        }
        let window = windows[layer]
        steps.attend(
            layer: layer, batch: batch, kv: kv, scratch: scratch, rope: window == nil ? globalRope : localRope,
            cosines: window == nil ? scratch.cosines : scratch.localCosines,
            sines: window == nil ? scratch.sines : scratch.localSines, window: window, output: block.attention.output)
        steps.normalize(scratch.normed, norm: block.postAttentionNorm, tokens: n, into: scratch.normed, scratch: scratch)
        steps.addResidual(scratch, tokens: n)
    }

    private func feedForward(block: Block, tokens n: Int, scratch: ForwardScratch) {
        steps.normalizeAndMultiply(block.feedForwardInputs, norm: block.feedForwardNorm, tokens: n,
                                   outputs: scratch.feedForwardInputs, scratch: scratch)
        scratch.tokenLoops.run(.geGLU(gate: scratch.gate, up: scratch.up, width: config.feedForwardLength), tokens: n)
        steps.projectSplit(block.feedForwardDown, input: scratch.gate, tokens: n,
                           groupBlocks: steps.columnGroups.feedForward, scratch: scratch)
        steps.normalize(scratch.normed, norm: block.postFeedForwardNorm, tokens: n, into: scratch.normed, scratch: scratch)
        steps.addResidual(scratch, tokens: n)
    }
}

extension Gemma3Model {
    /// The same model with every layer attending globally: for tests that check the sliding
    /// windows matter.
    func withoutSlidingWindows() -> Gemma3Model {
        var copy = self
        copy.windows = windows.map { _ in nil }
        return copy
    }
}
