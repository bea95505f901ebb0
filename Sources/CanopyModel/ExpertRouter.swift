import CanopyKernels
import Foundation

/// Chooses, for one token, the experts it is sent to and their weights.
///
/// Guarantees: exactly `usedCount` distinct experts, ordered by decreasing selection score
/// (probability, or logit for `.softmaxOfSelected`); equal scores are broken in favour of the
/// lower expert index, so routing is deterministic and independent of the batch.
public struct ExpertRouter: Sendable, Equatable {
    /// The routing rules.
    public let config: ExpertConfig

    /// Creates a router following `config`.
    public init(config: ExpertConfig) {
        self.config = config
    }

    /// Routes one token: reads `config.count` router logits and writes `config.usedCount`
    /// expert indices and weights, best first.
    ///
    /// `scratch` must hold `config.count` floats; it is overwritten.
    public func route(
        logits: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        experts: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>
    ) {
        let count = config.count
        let k = config.usedCount
        // Scores used for the selection; the weights are read from the same buffer.
        switch config.gating {
        case .softmax:
            scratch.update(from: logits, count: count)
            Activation.softmax(scratch, count: count)
        case .sigmoid:
            for i in 0..<count { scratch[i] = 1 / (1 + expf(-logits[i])) }
        case .softmaxOfSelected:
            scratch.update(from: logits, count: count)
        }
        // Selection by repeated maximum: k is tiny (2–8), and a strict `>` keeps the lower
        // index on ties.
        for slot in 0..<k {
            var best = -1
            for i in 0..<count where !isChosen(i, experts, slot) {
                if best < 0 || scratch[i] > scratch[best] { best = i }
            }
            experts[slot] = Int32(best)
            weights[slot] = scratch[best]
        }
        if config.gating == .softmaxOfSelected {
            Activation.softmax(weights, count: k)
        }
        if config.normalizesWeights {
            var sum: Float = 0
            for slot in 0..<k { sum += weights[slot] }
            // ggml divides by the row sum (not a multiply by its inverse); so do we.
            for slot in 0..<k { weights[slot] /= sum }
        }
        if config.weightsScale != 1 {
            for slot in 0..<k { weights[slot] *= config.weightsScale }
        }
    }

    /// Routes one token given as an array: `(expert, weight)` pairs, best first.
    ///
    /// - Precondition: `logits.count == config.count`.
    public func route(_ logits: [Float]) -> [(expert: Int, weight: Float)] {
        precondition(logits.count == config.count, "need one logit per expert")
        let k = config.usedCount
        var scratch = [Float](repeating: 0, count: config.count)
        var experts = [Int32](repeating: 0, count: k)
        var weights = [Float](repeating: 0, count: k)
        logits.withUnsafeBufferPointer { l in
            route(logits: l.baseAddress!, scratch: &scratch, experts: &experts, weights: &weights)
        }
        return (0..<k).map { (Int(experts[$0]), weights[$0]) }
    }

    private func isChosen(_ expert: Int, _ chosen: UnsafeMutablePointer<Int32>, _ count: Int) -> Bool {
        for slot in 0..<count where chosen[slot] == Int32(expert) { return true }
        return false
    }
}
