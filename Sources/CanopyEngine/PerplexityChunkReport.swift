/// What one scored chunk of a perplexity run adds: handed to the progress callback as each
/// chunk finishes, and kept in `PerplexityResult.chunks`.
public struct PerplexityChunkReport: Sendable, Equatable {
    /// The chunk's number, from 1 (llama-perplexity's `[n]`).
    public let chunk: Int
    /// Chunks the run scores in all.
    public let chunkCount: Int
    /// The tokens this chunk scored alone.
    public let chunkEstimate: PerplexityEstimate
    /// Every token scored so far, this chunk included: the running estimate
    /// llama-perplexity prints after `[n]`.
    public let runningEstimate: PerplexityEstimate
    /// Wall-clock seconds the chunk took (forward passes and scoring).
    public let seconds: Double
}
