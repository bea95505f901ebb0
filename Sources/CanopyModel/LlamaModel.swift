import CanopyKernels

/// The Llama family as GGUF describes it: token embedding, pre-norm blocks of grouped-query
/// attention with RoPE and a SwiGLU feed-forward network (or routed experts, Mixtral-style),
/// a final RMSNorm and an output projection (tied to the embedding when the file has no
/// `output.weight`). `llama`, `qwen2`, `qwen2moe`, `qwen3` and `phi3` files run on it; what sets each
/// apart is its `LlamaVariant`.
public struct LlamaModel: CausalLanguageModel, ExpertLoadReporting {
    /// Weights of one transformer block.
    struct Block: Sendable {
        var attention: AttentionWeights
        var feedForwardNorm: [Float]
        var feedForward: FeedForwardWeights
    }

    public let config: ModelConfig
    /// What this architecture changes in the Llama block.
    public let variant: LlamaVariant
    /// How matrix products treat activations; `.quantizedActivations` follows llama.cpp.
    public let precision: MatMulPrecision
    let ends: DecoderEnds
    let blocks: [Block]
    let rope: RoPE
    let steps: LayerSteps
    /// Per block, [gate, up], built once so a pass allocates nothing.
    let feedForwardGroups: [[WeightMatrix]]
    /// Tokens routed per block and expert (Mixtral-style files); nil for dense models.
    public let expertLoad: ExpertLoadCounters?

    /// Binds every weight the configuration implies, checking names and shapes. With
    /// `shard`, binds only that tensor-parallel rank's part of each layer (see `TensorShard`);
    /// with `stage`, only that pipeline stage's blocks (see `PipelineStage`); either way it
    /// runs as one rank of the job through `exchange`, and `config` is its local configuration.
    public init(
        store: WeightStore, config full: ModelConfig, precision: MatMulPrecision, variant: LlamaVariant = .llama,
        shard: TensorShard? = nil, stage: PipelineStage? = nil, exchange: (any ShardExchange)? = nil
    ) throws(ModelError) {
        if variant.requiresExperts, full.experts == nil {
            throw .missingMetadata(key: "\(full.architecture).expert_count")
        }
        let split = shard?.localConfig(full) ?? full
        let config = stage?.localConfig(split) ?? split
        self.config = config
        self.variant = variant
        self.precision = precision
        let e = config.embeddingLength
        ends = try DecoderEnds(store: store, config: config, shard: shard, stage: stage, exchange: exchange)
        var blocks: [Block] = []
        for i in stage?.layers ?? 0..<full.blockCount {
            let p = "blk.\(i)."
            blocks.append(Block(
                attention: try AttentionWeights(
                    store: store, config: full, prefix: p, headNorms: variant.headNorms, shard: shard),
                feedForwardNorm: try store.vector(p + "ffn_norm.weight", count: e),
                feedForward: try FeedForwardWeights(store: store, config: full, prefix: p, shard: shard)))
        }
        self.blocks = blocks
        rope = try RoPE(config: config, style: variant.ropeStyle, store: store)
        steps = LayerSteps(config: config, precision: precision, exchange: shard == nil ? nil : exchange,
                           columnGroups: TensorShard.columnGroups(full, file: store.file))
        feedForwardGroups = blocks.map { block in
            if case .dense(let gate, let up, _) = block.feedForward { return [gate, up] }
            return []
        }
        expertLoad = ExpertLoadCounters.forModel(config)
    }

    public func forward(_ batch: ForwardBatch, kv: KVStorage, logits: UnsafeMutableBufferPointer<Float>) throws(ForwardError) {
        // `part`: the batch, or the micro-batch of it a pipeline stage runs.
        try ends.run(batch, kv: kv, logits: logits, config: config, precision: precision, rope: rope) { layer, part, scratch in
            attention(block: blocks[layer], layer: layer, batch: part, kv: kv, scratch: scratch)
            feedForward(block: blocks[layer], layer: layer, tokens: part.count, scratch: scratch)
        }
    }

    private func attention(block: Block, layer: Int, batch: ForwardBatch, kv: KVStorage, scratch: ForwardScratch) {
        steps.projectAttention(block.attention, tokens: batch.count, scratch: scratch)
        steps.attend(layer: layer, batch: batch, kv: kv, scratch: scratch, rope: rope, cosines: scratch.cosines,
                     sines: scratch.sines, output: block.attention.output)
        steps.addResidual(scratch, tokens: batch.count)
    }

    private func feedForward(block: Block, layer: Int, tokens n: Int, scratch: ForwardScratch) {
        let e = config.embeddingLength
        switch block.feedForward {
        case .dense(let gate, _, let down):
            steps.normalizeAndMultiply(feedForwardGroups[layer], norm: block.feedForwardNorm, tokens: n,
                                       outputs: scratch.feedForwardInputs, scratch: scratch)
            scratch.tokenLoops.run(.swiGLU(gate: scratch.gate, up: scratch.up, width: gate.rows), tokens: n)
            steps.projectSplit(down, input: scratch.gate, tokens: n, groupBlocks: steps.columnGroups.feedForward,
                               scratch: scratch)
        case .experts(let experts):
            steps.normalize(norm: block.feedForwardNorm, tokens: n, scratch: scratch)
            experts.apply(scratch.normed, tokens: n, embedding: e, precision: precision, layer: layer, load: expertLoad)
        }
        steps.addResidual(scratch, tokens: n)
    }
}
