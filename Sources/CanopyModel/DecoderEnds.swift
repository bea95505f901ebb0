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
    /// The whole output projection, or this rank's vocabulary rows of it (`shard`).
    let output: WeightMatrix
    let scratchPool: ForwardScratchPool
    /// This rank's part of the layers, and how the ranks combine results; nil in one process.
    let shard: TensorShard?
    let exchange: (any ShardExchange)?

    /// Binds `token_embd`, `output_norm` and `output` (or the tied embedding), checking
    /// shapes; with `shard`, only its vocabulary rows of both (Megatron's vocabulary-parallel
    /// embedding: a rank embeds the tokens in its rows, zeros the others, and the ranks' sum
    /// is every token's embedding).
    init(
        store: WeightStore, config: ModelConfig, embeddingScale: Float? = nil, shard: TensorShard? = nil,
        exchange: (any ShardExchange)? = nil
    ) throws(ModelError) {
        precondition((shard == nil) == (exchange == nil), "a shard needs its exchange")
        let e = config.embeddingLength
        self.store = store
        tokenEmbedding = try store.matrix("token_embd.weight", rows: config.vocabularySize, cols: e,
                                          part: shard.map { .rows($0.vocabulary) })
        self.embeddingScale = embeddingScale
        outputNorm = try store.vector("output_norm.weight", count: e)
        // A rank's embedding part is its vocabulary rows already: tied, it is its output part.
        output = try store.outputProjection(config: config, tiedTo: tokenEmbedding, shardRows: shard?.vocabulary)
        scratchPool = ForwardScratchPool(config: config, store: store)
        self.shard = shard
        self.exchange = exchange
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
            // Once this rank has its buffers (a pass that cannot get them starts nothing), the
            // others are told to run the same pass.
            if let shard, let exchange, shard.rank == 0 {
                exchange.distribute(batch, copies: kv.copies?.take() ?? [])
            }
            scratch.loadInputs(batch, embedding: tokenEmbedding, residency: store.residency, rope: rope,
                               localRope: localRope, config: c, embeddingRows: shard?.vocabulary)
            exchange?.sum(scratch.residual, count: batch.count * c.embeddingLength)
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
            guard let shard, let exchange else {
                scratch.writeLogits(batch, norm: outputNorm, output: output, residency: residency, config: c,
                                    precision: precision, into: logits)
                return
            }
            // Each rank projects onto its vocabulary rows; rank 0 collects the whole rows.
            var part = [Float](repeating: 0, count: batch.logitCount * shard.vocabulary.count)
            part.withUnsafeMutableBufferPointer { part in
                scratch.writeLogits(batch, norm: outputNorm, output: output, residency: nil, config: c,
                                    precision: precision, into: part.baseAddress!)
                exchange.gatherColumns(part.baseAddress!, rows: batch.logitCount, columns: shard.vocabulary,
                                       width: c.vocabularySize, into: shard.rank == 0 ? logits : nil)
            }
        }
        if let failure = exchange?.failure { throw .rankLost(reason: failure) }
    }
}
