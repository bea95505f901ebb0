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

    /// gate = GELU(gate) · up, elementwise (Gemma's gated feed-forward), with GELU as
    /// llama.cpp computes it on CPUs (ggml's `GGML_GELU_FP16` table): the input rounded to
    /// f16, the tanh form `0.5 x (1 + tanh(√(2/π) x (1 + 0.044715 x²)))` evaluated in Float on
    /// that value and rounded to f16; inputs ≤ −10 give 0 and inputs ≥ 10 pass unchanged.
    public static func geGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        let sqrtTwoOverPi: Float = 0.797_884_560_802_865_355_879_892_119_868_76
        let coefficient: Float = 0.044_715
        for i in 0..<count {
            let x = gate[i]
            if x <= -10 {
                gate[i] = 0
            } else if x >= 10 {
                gate[i] = x * up[i]
            } else {
                let h = HalfFloat.roundedToHalf(x)
                let gelu = 0.5 * h * (1 + tanhf(sqrtTwoOverPi * h * (1 + coefficient * h * h)))
                gate[i] = HalfFloat.roundedToHalf(gelu) * up[i]
            }
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
