/// What weight streaming under `--weight-memory` holds and has done since load: the
/// placement's sizes and the streamer's counters, as `Engine.metrics()` and `Stats` report
/// them.
public struct WeightStreamingStats: Sendable, Equatable {
    /// The budget planned for, in bytes.
    public var budgetBytes = 0
    /// Bytes of the model file always in memory.
    public var residentBytes = 0
    /// Bytes read from the file per forward pass (each streamed layer once).
    public var streamedBytesPerPass = 0
    /// Transformer layers streamed, of `totalLayers`.
    public var streamedLayers = 0
    public var totalLayers = 0
    /// Bytes read per token for its embedding row (0 when the table is resident).
    public var embeddingBytesPerToken = 0
    /// Bytes read from the file since load (streamed units and embedding rows).
    public var bytesRead = 0
    /// Layers the prefetch thread read ahead of use.
    public var prefetchReads = 0
    /// Layer uses that found the layer already read.
    public var prefetchHits = 0
    /// Layer uses that waited for a read under way, and the seconds spent waiting.
    public var stalls = 0
    public var stallSeconds = 0.0
    /// Layer uses that read the layer themselves (not read ahead).
    public var demandReads = 0

    /// Creates zero statistics.
    public init() {}
}
