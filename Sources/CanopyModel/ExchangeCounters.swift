import Foundation

/// Communication totals of one rank since start.
public struct ExchangeCounters: Sendable, Equatable {
    /// Seconds spent in exchanges (sending, waiting for peers, adding partials).
    public var seconds: Double = 0
    /// Bytes this rank sent.
    public var bytesSent = 0
    /// Exchanges (sums, logit gathers, step messages).
    public var exchanges = 0
    /// Rank 0: forward passes run, and their wall time from sending the step to holding
    /// the logits (communication included).
    public var passes = 0
    public var passSeconds: Double = 0

    /// Zero counters.
    public init() {}

    /// The share of pass time spent in exchanges (rank 0), 0 before any pass.
    public var communicationShare: Double { passSeconds > 0 ? seconds / passSeconds : 0 }
}

extension ExchangeCounters: CustomStringConvertible {
    public var description: String {
        let perPass = passes > 0 ? passSeconds / Double(passes) * 1000 : 0
        let commPerPass = passes > 0 ? seconds / Double(passes) * 1000 : 0
        return String(
            format: "%d passes, %.2f ms per pass, %.3f ms of it exchanging (%.1f%%), %d exchanges, %d bytes sent",
            passes, perPass, commPerPass, communicationShare * 100, exchanges, bytesSent)
    }
}
