/// Summary statistics of a set of latencies (seconds), as vLLM's serving benchmark reports
/// them: mean, median and percentiles by linear interpolation between closest ranks
/// (numpy's default), so figures are comparable with its output.
struct LatencyStats: Sendable, Encodable {
    /// Number of observations.
    let count: Int
    /// Arithmetic mean; 0 when empty.
    let mean: Double
    /// Smallest observation; 0 when empty.
    let min: Double
    /// Largest observation; 0 when empty.
    let max: Double
    /// 50th percentile (median).
    let p50: Double
    /// 90th percentile.
    let p90: Double
    /// 99th percentile.
    let p99: Double

    /// Statistics of `samples` (any order; all values 0 when empty).
    init(_ samples: [Double]) {
        let sorted = samples.sorted()
        count = sorted.count
        mean = sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count)
        min = sorted.first ?? 0
        max = sorted.last ?? 0
        p50 = Self.percentile(sorted, 50)
        p90 = Self.percentile(sorted, 90)
        p99 = Self.percentile(sorted, 99)
    }

    /// The `p`th percentile (0...100) of ascending `sorted`: the value at rank
    /// `p/100 × (n−1)`, interpolated linearly between its neighbours; 0 when empty.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        precondition((0...100).contains(p), "percentile \(p) is outside 0...100")
        guard !sorted.isEmpty else { return 0 }
        let rank = p / 100 * Double(sorted.count - 1)
        let lower = Int(rank.rounded(.down))
        let upper = Swift.min(lower + 1, sorted.count - 1)
        let fraction = rank - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }

    /// The same statistics scaled by `factor` (e.g. 1000 for milliseconds).
    func scaled(by factor: Double) -> ScaledLatencyStats {
        ScaledLatencyStats(
            count: count, mean: mean * factor, min: min * factor, max: max * factor,
            p50: p50 * factor, p90: p90 * factor, p99: p99 * factor)
    }
}

/// `LatencyStats` in another unit, for output.
struct ScaledLatencyStats: Sendable, Encodable {
    let count: Int
    let mean: Double
    let min: Double
    let max: Double
    let p50: Double
    let p90: Double
    let p99: Double
}
