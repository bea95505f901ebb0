import CanopyGGUF
import CanopyKernels

/// A decoder-only model that turns a batch of tokens into next-token logits.
///
/// This is the seam between the engine and the architectures: the engine builds a
/// `ForwardBatch`, the model runs every layer over all of its tokens at once (so each weight
/// matrix is read once per call), writes keys and values into `cache`, and returns the
/// logits of the tokens that asked for them.
public protocol CausalLanguageModel: Sendable {
    /// Hyperparameters, decoded from the model file.
    var config: ModelConfig { get }

    /// Runs one forward pass: writes every token's keys and values into `kv` at its slot,
    /// attends, and writes `batch.logitCount × config.vocabularySize` logits to `logits`, one
    /// row per sequence slice that wants them, in batch order.
    ///
    /// The result for a token depends only on its sequence (its tokens and cached K/V), never
    /// on the other sequences in the batch: batching changes speed, not outputs. The caller
    /// owns `logits`, so a decode loop that reuses its batch and buffer allocates nothing in
    /// steady state (dense models; a mixture-of-experts pass may allocate routing tables).
    ///
    /// - Throws: `ForwardError` when the pass could not run to the end (its working memory
    ///   could not be had, or weights read on demand could not be read); `logits` and the
    ///   K/V rows of the batch are then undefined. Never traps for either.
    /// - Precondition: `kv.layout` matches the model (layers, KV heads, head size), and
    ///   `logits.count >= batch.logitCount * config.vocabularySize`.
    func forward(_ batch: ForwardBatch, kv: KVStorage, logits: UnsafeMutableBufferPointer<Float>) throws(ForwardError)
}

extension CausalLanguageModel {
    /// Runs one forward pass and returns the logits in a new array (see
    /// `forward(_:kv:logits:)`): for tools and tests, where one allocation per pass is fine.
    public func forward(_ batch: ForwardBatch, kv: KVStorage) throws(ForwardError) -> [Float] {
        var logits = [Float](repeating: 0, count: batch.logitCount * config.vocabularySize)
        try logits.withUnsafeMutableBufferPointer { buffer throws(ForwardError) in
            try forward(batch, kv: kv, logits: buffer)
        }
        return logits
    }
}
