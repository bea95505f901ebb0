/// The outcome of a perplexity run (`PerplexityEvaluator.evaluate`).
public struct PerplexityResult: Sendable, Equatable {
    /// Tokens per chunk (`--ctx`).
    public let context: Int
    /// Tokens the whole text tokenized to (with the BOS token when the model adds one).
    public let textTokens: Int
    /// Every chunk, in order; the last one's running estimate is the final one.
    public let chunks: [PerplexityChunkReport]
    /// Wall-clock seconds of all chunks (tokenization and loading not included).
    public let seconds: Double

    /// Creates a result from its chunks.
    public init(context: Int, textTokens: Int, chunks: [PerplexityChunkReport], seconds: Double) {
        self.context = context
        self.textTokens = textTokens
        self.chunks = chunks
        self.seconds = seconds
    }

    /// The estimate over every scored token.
    public var estimate: PerplexityEstimate { chunks.last?.runningEstimate ?? PerplexityEstimate() }

    /// The final perplexity (llama-perplexity's `Final estimate: PPL`).
    public var perplexity: Double { estimate.perplexity }

    /// Its standard error (the `+/-`), when defined.
    public var uncertainty: Double? { estimate.uncertainty }

    /// Tokens run through the model: every token of every chunk.
    public var evaluatedTokens: Int { context * chunks.count }

    /// Tokens run through the model per second of the run.
    public var tokensPerSecond: Double { seconds > 0 ? Double(evaluatedTokens) / seconds : 0 }
}
