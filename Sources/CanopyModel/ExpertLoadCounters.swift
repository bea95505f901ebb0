import CanopyKernels

/// Running totals of how many tokens each block routed to each expert, for load reports.
///
/// Forward passes add to it as they route; readers take snapshots from any thread. Counts
/// are per (token, expert) assignment, so one token adds `usedCount` in each MoE block.
public final class ExpertLoadCounters: Sendable {
    /// Blocks counted (the model's block count; dense blocks stay at zero).
    public let layers: Int
    /// Routed experts per block.
    public let experts: Int
    private let counts: Locked<[Int]>

    /// Creates zeroed counters for `layers` blocks of `experts` experts.
    public init(layers: Int, experts: Int) {
        precondition(layers > 0 && experts > 0, "counters need at least one layer and one expert")
        self.layers = layers
        self.experts = experts
        counts = Locked([Int](repeating: 0, count: layers * experts))
    }

    /// Adds `tokens` assignments of `expert` in block `layer`.
    public func add(layer: Int, expert: Int, tokens: Int) {
        precondition(layer >= 0 && layer < layers && expert >= 0 && expert < experts, "expert counter out of range")
        counts.withLock { $0[layer * experts + expert] += tokens }
    }

    /// The totals so far: `[layer][expert]`.
    public func snapshot() -> [[Int]] {
        let flat = counts.withLock { $0 }
        return (0..<layers).map { Array(flat[($0 * experts)..<(($0 + 1) * experts)]) }
    }

    /// Sets every total back to zero.
    public func reset() {
        counts.withLock { $0 = [Int](repeating: 0, count: layers * experts) }
    }
}

/// A model that routes tokens to experts and counts them.
public protocol ExpertLoadReporting: CausalLanguageModel {
    /// Tokens routed per block and expert since load (or the last reset); nil for a model
    /// without experts.
    var expertLoad: ExpertLoadCounters? { get }
}

extension ExpertLoadCounters {
    /// Counters for `config`'s experts, or nil for a dense model.
    static func forModel(_ config: ModelConfig) -> ExpertLoadCounters? {
        config.experts.map { ExpertLoadCounters(layers: config.blockCount, experts: $0.count) }
    }
}
