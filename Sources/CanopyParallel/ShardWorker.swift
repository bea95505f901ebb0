import CanopyKV
import CanopyKernels
import CanopyModel

/// What a rank other than the first does for its whole life: waits for rank 0's step
/// messages and runs each forward pass on its part of the model and its own KV arena (its
/// heads of its stage's blocks; rank 0's block manager decides the block ids), until rank 0
/// says stop.
public struct ShardWorker {
    let model: any CausalLanguageModel
    let exchange: MPIExchange

    /// A worker running `model` (this rank's shard, bound to `exchange`).
    public init(model: any CausalLanguageModel, exchange: MPIExchange) {
        precondition(!exchange.isFirstRank, "the first rank runs the engine, not a worker")
        self.model = model
        self.exchange = exchange
    }

    /// Serves rank 0 until it stops the group. Throws when a message does not decode, or
    /// when a pass fails (the rank is then of no use to the group).
    public func run() throws(ParallelError) {
        guard case .start(let blocks, let blockSize, let precision) = try exchange.receive(blockSize: 0) else {
            throw .malformedMessage("the first message from rank 0 is not the KV arena's geometry")
        }
        let c = model.config
        let layout = PagedKVLayout(
            blockSize: blockSize, layers: c.blockCount, kvHeads: c.headCountKV, headDimension: c.headDimension,
            precision: precision)
        let arena = KVArena(layout: layout, blockCount: blocks)
        let storage = KVStorage(base: arena.base, layout: layout)
        var logits: [Float] = []
        while true {
            switch try exchange.receive(blockSize: blockSize) {
            case .stop:
                return
            case .start:
                throw .malformedMessage("a second start message")
            case .forward(let batch, let copies):
                for copy in copies { arena.copyBlock(from: copy.from, to: copy.to) }
                let needed = batch.logitCount * c.vocabularySize
                if logits.count < needed { logits = [Float](repeating: 0, count: needed) }
                do throws(ForwardError) {
                    try logits.withUnsafeMutableBufferPointer { buffer throws(ForwardError) in
                        try model.forward(batch, kv: storage, logits: buffer)
                    }
                } catch {
                    throw .lostRank("its forward pass failed: \(error)")
                }
            }
        }
    }
}
