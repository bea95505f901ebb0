/// Root-mean-square layer normalisation, as Llama-family models use it.
public enum RMSNorm {
    /// Writes `output[i] = x[i] / sqrt(mean(x²) + epsilon) * weight[i]` for `i < count`.
    ///
    /// The sum of squares is accumulated in `Double`, as ggml does, so long rows lose no
    /// precision. `output` may alias `x`.
    public static func apply(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, count: Int,
        epsilon: Float, output: UnsafeMutablePointer<Float>
    ) {
        precondition(count > 0, "RMSNorm of an empty row")
        var sum: Double = 0
        for i in 0..<count {
            let v = Double(x[i])
            sum += v * v
        }
        let mean = Float(sum / Double(count))
        let scale = 1 / (mean + epsilon).squareRoot()
        for i in 0..<count {
            output[i] = (x[i] * scale) * weight[i]
        }
    }
}
