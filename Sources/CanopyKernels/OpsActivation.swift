import Foundation

/// Element-wise activations and the softmax.
public enum Activation {
    /// `gate[i] = silu(gate[i]) * up[i]`: the SwiGLU feed-forward gate, in place.
    public static func swiGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let g = gate[i]
            gate[i] = g / (1 + expf(-g)) * up[i]
        }
    }

    /// Replaces `x[0..<count]` by its softmax, computed stably (the maximum is subtracted
    /// first). Returns the log of the normaliser, `log Σ exp(x)`, which callers use for
    /// log-probabilities.
    @discardableResult
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) -> Float {
        precondition(count > 0, "softmax of an empty row")
        var maxValue = -Float.infinity
        for i in 0..<count where x[i] > maxValue { maxValue = x[i] }
        var sum: Double = 0
        for i in 0..<count {
            let e = expf(x[i] - maxValue)
            x[i] = e
            sum += Double(e)
        }
        let inverse = Float(1 / sum)
        for i in 0..<count { x[i] *= inverse }
        return maxValue + Float(log(sum))
    }
}
