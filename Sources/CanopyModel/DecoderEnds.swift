import CanopyKernels

/// What every architecture has around its blocks, bound and run one way: the token
/// embedding (optionally scaled, as Gemma's), the final RMSNorm and the output projection
/// (tied to the embedding when the file has no `output.weight`), and the pool of per-pass
/// scratch. An architecture's forward pass is `run(...)` with its own block in the middle.
///
/// In a parallel job it also does the exchanges around the blocks: the first rank tells the
/// others to run the pass; a later pipeline stage takes its input from the previous stage
/// instead of the embedding, and every stage but the last hands its output on; tensor-parallel
/// ranks combine their embedding parts and gather their logit columns.
struct DecoderEnds: Sendable {
    let store: WeightStore
    /// The embedding (this rank's vocabulary rows of it, under tensor parallelism); nil on
    /// a pipeline stage that neither embeds nor projects through a tied embedding.
    let tokenEmbedding: WeightMatrix?
    /// Embedding rows are multiplied by this before the first block (Gemma: √width); nil: 1.
    let embeddingScale: Float?
    /// The final norm and output projection (this rank's vocabulary rows of it); nil on a
    /// pipeline stage before the last.
    let outputNorm: [Float]?
    let output: WeightMatrix?
    let scratchPool: ForwardScratchPool
    /// This rank's part of the layers, its stage, and how the ranks exchange results; all
    /// nil in one process.
    let shard: TensorShard?
    let stage: PipelineStage?
    let exchange: (any ShardExchange)?

    /// Binds `token_embd`, `output_norm` and `output` (or the tied embedding), checking
    /// shapes; with `shard`, only its vocabulary rows of both (Megatron's vocabulary-parallel
    /// embedding: a rank embeds the tokens in its rows, zeros the others, and the ranks' sum
    /// is every token's embedding); with `stage`, only what that stage uses.
    init(
        store: WeightStore, config: ModelConfig, embeddingScale: Float? = nil, shard: TensorShard? = nil,
        stage: PipelineStage? = nil, exchange: (any ShardExchange)? = nil
    ) throws(ModelError) {
        precondition((shard == nil && stage == nil) == (exchange == nil), "a parallel rank needs its exchange")
        let e = config.embeddingLength
        self.store = store
        let tied = !store.contains("output.weight")
        if stage?.reads("token_embd.weight", tiedOutput: tied) ?? true {
            tokenEmbedding = try store.matrix("token_embd.weight", rows: config.vocabularySize, cols: e,
                                              part: shard.map { .rows($0.vocabulary) })
        } else {
            tokenEmbedding = nil
        }
        self.embeddingScale = embeddingScale
        if stage?.isLast ?? true {
            outputNorm = try store.vector("output_norm.weight", count: e)
            if tied {
                // Under tensor parallelism the embedding part is this rank's vocabulary rows
                // already, which are its output rows.
                guard let tokenEmbedding else { preconditionFailure("the last stage reads a tied embedding") }
                output = tokenEmbedding
            } else {
                output = try store.matrix("output.weight", rows: config.vocabularySize, cols: e,
                                          part: shard.map { .rows($0.vocabulary) })
            }
        } else {
            outputNorm = nil
            output = nil
        }
        scratchPool = ForwardScratchPool(config: config, store: store)
        self.shard = shard
        self.stage = stage
        self.exchange = exchange
    }

    /// One forward pass (see `CausalLanguageModel.forward`): embeds the batch's tokens (or,
    /// on a later pipeline stage, receives the previous stage's activations) and fills the
    /// RoPE angles of `rope` (and of `localRope`, for sliding-window layers), runs `block`
    /// for every layer (with the batch it runs: the whole batch, or a pipeline stage's
    /// micro-batch of it) with that layer's streamed weights acquired, then writes the logits
    /// through the final norm and output projection (or hands the activations on).
    ///
    /// Under pipeline parallelism the batch runs as one micro-batch per stage (whole
    /// sequences each), one after another on every stage, so that the stages overlap; the
    /// first rank collects every micro-batch's logits at the end.
    func run(
        _ batch: ForwardBatch, kv: KVStorage, logits: UnsafeMutableBufferPointer<Float>, config c: ModelConfig,
        precision: MatMulPrecision, rope: RoPE, localRope: RoPE? = nil,
        block: (_ layer: Int, _ batch: ForwardBatch, _ scratch: ForwardScratch) -> Void
    ) throws(ForwardError) {
        guard let stage, let exchange else {
            // One process, or tensor parallelism alone: the whole batch in one pass (no
            // allocation here: the steady-state decode loop allocates nothing).
            try runPass(batch, of: batch, first: true, kv: kv, logits: logits, config: c, precision: precision,
                        rope: rope, localRope: localRope, block: block)
            if let failure = exchange?.failure { throw .rankLost(reason: failure) }
            return
        }
        let parts = batch.microBatches(stage.stages, blockSize: kv.layout.blockSize)
        func passes() throws(ForwardError) {
            for (index, part) in parts.enumerated() {
                let rest = UnsafeMutableBufferPointer(rebasing: logits[(part.logitStart * c.vocabularySize)...])
                try runPass(part.batch, of: batch, first: index == 0, kv: kv, logits: rest, config: c,
                            precision: precision, rope: rope, localRope: localRope, block: block)
            }
        }
        if !stage.isLast, exchange.isFirstRank {
            // The logits come from the last stage, one message per micro-batch.
            let destinations = parts.map { part in
                UnsafeMutableBufferPointer(rebasing: logits[(part.logitStart * c.vocabularySize)...]
                    .prefix(part.batch.logitCount * c.vocabularySize))
            }
            try exchange.collectLogits(into: destinations, while: passes)
        } else {
            try passes()
        }
        if let failure = exchange.failure { throw .rankLost(reason: failure) }
    }

    /// `part` (the whole `batch`, or a micro-batch of it) through one pass: its scratch,
    /// then `pass`. The job's first rank tells the others to run `batch` once it holds the
    /// scratch of the `first` part (a pass that cannot get its buffers starts nothing).
    private func runPass(
        _ part: ForwardBatch, of batch: ForwardBatch, first: Bool, kv: KVStorage, logits: UnsafeMutableBufferPointer<Float>,
        config c: ModelConfig, precision: MatMulPrecision, rope: RoPE, localRope: RoPE?,
        block: (_ layer: Int, _ batch: ForwardBatch, _ scratch: ForwardScratch) -> Void
    ) throws(ForwardError) {
        try scratchPool.withPass(part, kv: kv, logits: logits, config: c, store: store) { scratch, logits in
            if first, let exchange, exchange.isFirstRank {
                exchange.distribute(batch, copies: kv.copies?.take() ?? [])
            }
            pass(part, scratch: scratch, config: c, precision: precision, rope: rope, localRope: localRope,
                 block: block, into: logits)
        }
    }

    /// One micro-batch through this rank's layers (the whole batch outside pipelines).
    private func pass(
        _ batch: ForwardBatch, scratch: ForwardScratch, config c: ModelConfig, precision: MatMulPrecision, rope: RoPE,
        localRope: RoPE?, block: (_ layer: Int, _ batch: ForwardBatch, _ scratch: ForwardScratch) -> Void, into logits: UnsafeMutablePointer<Float>
    ) {
        let e = c.embeddingLength
        scratch.loadInputs(batch, embedding: tokenEmbedding, residency: store.residency, rope: rope,
                           localRope: localRope, config: c, embeddingRows: shard?.vocabulary)
        if let exchange, let stage, !stage.isFirst {
            exchange.receiveActivations(into: scratch.residual, count: batch.count * e)
        } else {
            if shard != nil { exchange?.sum(scratch.residual, count: batch.count * e, through: scratch.wideSums) }
            if let embeddingScale {
                scratch.tokenLoops.run(.scale(values: scratch.residual, factor: embeddingScale, width: e),
                                       tokens: batch.count)
            }
        }
        let residency = store.residency
        for layer in 0..<c.blockCount {
            residency?.acquire(layer)
            block(layer, batch, scratch)
            residency?.release(layer)
        }
        writeLogits(batch, scratch: scratch, config: c, precision: precision, into: logits)
    }

    /// The end of a pass: the logits into `logits` on the job's first rank (from the last
    /// stage's rank 0 under pipeline parallelism); on a stage before the last, the
    /// activations to the next stage instead.
    private func writeLogits(
        _ batch: ForwardBatch, scratch: ForwardScratch, config c: ModelConfig, precision: MatMulPrecision,
        into logits: UnsafeMutablePointer<Float>
    ) {
        let count = batch.logitCount * c.vocabularySize
        guard let exchange else {
            scratch.writeLogits(batch, norm: outputNorm!, output: output!, residency: store.residency, config: c,
                                precision: precision, into: logits)
            return
        }
        if let stage, !stage.isLast {
            exchange.sendActivations(scratch.residual, count: batch.count * c.embeddingLength)
            return
        }
        if let shard {
            // Each rank projects onto its vocabulary rows; the stage's rank 0 collects them.
            var part = [Float](repeating: 0, count: batch.logitCount * shard.vocabulary.count)
            part.withUnsafeMutableBufferPointer { part in
                scratch.writeLogits(batch, norm: outputNorm!, output: output!, residency: nil, config: c,
                                    precision: precision, into: part.baseAddress!)
                exchange.gatherColumns(part.baseAddress!, rows: batch.logitCount, columns: shard.vocabulary,
                                       width: c.vocabularySize, into: exchange.rank == 0 ? logits : nil)
            }
        } else {
            scratch.writeLogits(batch, norm: outputNorm!, output: output!, residency: nil, config: c,
                                precision: precision, into: logits)
        }
        if exchange.rank == 0, !exchange.isFirstRank { exchange.sendLogits(logits, count: count) }
    }
}
