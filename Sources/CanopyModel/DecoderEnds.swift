import CanopyKernels

/// What every architecture has around its blocks, bound and run one way: the token
/// embedding (optionally scaled, as Gemma's), the final RMSNorm and the output projection
/// (tied to the embedding when the file has no `output.weight`), and the pool of per-pass
/// scratch. An architecture's forward pass is `run(...)` with its own block in the middle.
struct DecoderEnds: Sendable {
    let store: WeightStore
    let tokenEmbedding: WeightMatrix
    /// Embedding rows are multiplied by this before the first block (Gemma: √width); nil: 1.
    let embeddingScale: Float?
    let outputNorm: [Float]
    let output: WeightMatrix
    let scratchPool: ForwardScratchPool

    /// Binds `token_embd`, `output_norm` and `output` (or the tied embedding), checking shapes.
    init(store: WeightStore, config: ModelConfig, embeddingScale: Float? = nil) throws(ModelError) {
        let e = config.embeddingLength
        self.store = store
        tokenEmbedding = try store.matrix("token_embd.weight", rows: config.vocabularySize, cols: e)
        self.embeddingScale = embeddingScale
        outputNorm = try store.vector("output_norm.weight", count: e)
        output = try store.outputProjection(config: config, tiedTo: tokenEmbedding)
        scratchPool = ForwardScratchPool(config: config, store: store)
    }

    /// One forward pass (see `CausalLanguageModel.forward`): embeds the batch's tokens and
    /// fills the RoPE angles of `rope` (and of `localRope`, for sliding-window layers), runs
    /// `block` for every layer with that layer's streamed weights acquired, then writes the
    /// logits through the final norm and output projection.
    func run(
        _ batch: ForwardBatch, kv: KVStorage, logits: UnsafeMutableBufferPointer<Float>, config c: ModelConfig,
        precision: MatMulPrecision, rope: RoPE, localRope: RoPE? = nil,
        block: (_ layer: Int, _ scratch: ForwardScratch) -> Void
    ) throws(ForwardError) {
        try scratchPool.withPass(batch, kv: kv, logits: logits, config: c, store: store) { scratch, logits in
            scratch.loadInputs(batch, embedding: tokenEmbedding, residency: store.residency, rope: rope,
                               localRope: localRope, config: c)
            if let embeddingScale {
                let e = c.embeddingLength
                scratch.tokenLoops.run(.scale(values: scratch.residual, factor: embeddingScale, width: e),
                                       tokens: batch.count)
            }
            let residency = store.residency
            for layer in 0..<c.blockCount {
                residency?.acquire(layer)
                block(layer, scratch)
                residency?.release(layer)
            }
            scratch.writeLogits(batch, norm: outputNorm, output: output, residency: residency, config: c,
                                precision: precision, into: logits)
        }
    }
}
