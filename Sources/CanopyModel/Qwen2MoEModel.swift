import CanopyKernels

/// The Qwen2-MoE architecture (`qwen2moe`) as llama.cpp runs it: Llama-style pre-norm blocks
/// whose attention projections carry biases (`attn_q.bias`, `attn_k.bias`, `attn_v.bias`) and
/// whose RoPE rotates NeoX-style (dimension `i` with `i + d/2`), and whose feed-forward is a
/// softmax-routed mixture of experts plus a sigmoid-gated shared expert.
public struct Qwen2MoEModel: CausalLanguageModel, ExpertLoadReporting {
    /// Weights of one transformer block.
    struct Block: Sendable {
        var attentionNorm: [Float]
        var query: WeightMatrix
        var key: WeightMatrix
        var value: WeightMatrix
        var queryBias: [Float]?
        var keyBias: [Float]?
        var valueBias: [Float]?
        var attentionOutput: WeightMatrix
        var feedForwardNorm: [Float]
        var feedForward: FeedForwardWeights
    }

    public let config: ModelConfig
    /// How matrix products treat activations; `.quantizedActivations` follows llama.cpp.
    public let precision: MatMulPrecision
    /// Tokens routed per block and expert since load.
    public let expertLoad: ExpertLoadCounters?
    let store: WeightStore
    let tokenEmbedding: WeightMatrix
    let blocks: [Block]
    let outputNorm: [Float]
    let output: WeightMatrix
    let rope: RoPE
    let steps: LayerSteps
    /// Per block, [query, key, value]: one grouped product (fused with the norm).
    let projectionGroups: [[WeightMatrix]]
    let scratchPool: ForwardScratchPool

    /// Binds every weight the configuration implies, checking names and shapes.
    public init(store: WeightStore, config: ModelConfig, precision: MatMulPrecision) throws(ModelError) {
        guard config.experts != nil else { throw .missingMetadata(key: "\(config.architecture).expert_count") }
        self.store = store
        self.config = config
        self.precision = precision
        let e = config.embeddingLength
        func bias(_ name: String, _ count: Int) throws(ModelError) -> [Float]? {
            store.contains(name) ? try store.vector(name, count: count) : nil
        }
        tokenEmbedding = try store.matrix("token_embd.weight", rows: config.vocabularySize, cols: e)
        var blocks: [Block] = []
        for i in 0..<config.blockCount {
            let p = "blk.\(i)."
            blocks.append(Block(
                attentionNorm: try store.vector(p + "attn_norm.weight", count: e),
                query: try store.matrix(p + "attn_q.weight", rows: config.queryWidth, cols: e),
                key: try store.matrix(p + "attn_k.weight", rows: config.keyValueWidth, cols: e),
                value: try store.matrix(p + "attn_v.weight", rows: config.keyValueWidth, cols: e),
                queryBias: try bias(p + "attn_q.bias", config.queryWidth),
                keyBias: try bias(p + "attn_k.bias", config.keyValueWidth),
                valueBias: try bias(p + "attn_v.bias", config.keyValueWidth),
                attentionOutput: try store.matrix(p + "attn_output.weight", rows: e, cols: config.queryWidth),
                feedForwardNorm: try store.vector(p + "ffn_norm.weight", count: e),
                feedForward: try FeedForwardWeights(store: store, config: config, prefix: p)))
        }
        self.blocks = blocks
        outputNorm = try store.vector("output_norm.weight", count: e)
        output = try store.outputProjection(config: config, tiedTo: tokenEmbedding)
        rope = RoPE(dimensions: config.ropeDimensionCount, frequencyBase: config.ropeFrequencyBase, style: .neox)
        expertLoad = ExpertLoadCounters.forModel(config)
        steps = LayerSteps(config: config, precision: precision)
        projectionGroups = blocks.map { [$0.query, $0.key, $0.value] }
        scratchPool = ForwardScratchPool(config: config, store: store)
    }

    public func forward(_ batch: ForwardBatch, kv: KVStorage, logits: UnsafeMutableBufferPointer<Float>) throws(ForwardError) {
        try scratchPool.withPass(batch, kv: kv, logits: logits, config: config, store: store) { scratch, logits in
            forward(batch, kv: kv, scratch: scratch, logits: logits)
        }
    }

    private func forward(
        _ batch: ForwardBatch, kv: KVStorage, scratch: ForwardScratch, logits: UnsafeMutablePointer<Float>
    ) {
        let n = batch.count
        let c = config
        let e = c.embeddingLength

        scratch.loadInputs(batch, embedding: tokenEmbedding, residency: store.residency, rope: rope, config: c)

        let residency = store.residency
        for (layer, block) in blocks.enumerated() {
            residency?.acquire(layer)
            defer { residency?.release(layer) }
            attention(block: block, layer: layer, batch: batch, kv: kv, scratch: scratch)
            steps.normalize(norm: block.feedForwardNorm, tokens: n, scratch: scratch)
            switch block.feedForward {
            case .dense(let gate, let up, let down):
                let ffn = SwiGLUWeights(gate: gate, up: up, down: down)
                ffn.apply(scratch.normed, tokens: n, hidden: scratch.gate, upScratch: scratch.up,
                          output: scratch.normed, precision: precision)
            case .experts(let experts):
                experts.apply(scratch.normed, tokens: n, embedding: e, precision: precision, layer: layer, load: expertLoad)
            }
            steps.addResidual(scratch, tokens: n)
        }

        scratch.writeLogits(batch, norm: outputNorm, output: output, residency: store.residency, config: c,
                           precision: precision, into: logits)
    }

    /// Llama's attention step with the projections' biases added before RoPE.
    private func attention(block: Block, layer: Int, batch: ForwardBatch, kv: KVStorage, scratch: ForwardScratch) {
        let n = batch.count
        steps.normalizeAndMultiply(projectionGroups[layer], norm: block.attentionNorm, tokens: n,
                                   outputs: scratch.projections, scratch: scratch)
        addBias(block.queryBias, to: scratch.query, tokens: n)
        addBias(block.keyBias, to: scratch.key, tokens: n)
        addBias(block.valueBias, to: scratch.value, tokens: n)
        steps.attend(layer: layer, batch: batch, kv: kv, scratch: scratch, rope: rope, cosines: scratch.cosines,
                     sines: scratch.sines, output: block.attentionOutput)
        steps.addResidual(scratch, tokens: n)
    }

    private func addBias(_ bias: [Float]?, to x: UnsafeMutablePointer<Float>, tokens n: Int) {
        guard let bias else { return }
        let width = bias.count
        for t in 0..<n {
            let row = x + t * width
            for i in 0..<width { row[i] += bias[i] }
        }
    }
}
