import Foundation

/// Rotary position embedding: pair `i` of a head's rotated dimensions turns by the angle
/// `position · base^(-2i/dims)`, divided by the pair's frequency factor when the model has
/// them. Which two values form pair `i` is the style: `(2i, 2i+1)` in llama.cpp's "normal"
/// mode (Llama), `(i, i + dims/2)` in its NeoX mode (Gemma, Qwen, Phi-3).
public struct RoPE: Sendable {
    /// How the rotated dimensions pair up.
    public enum Style: Sendable {
        /// Adjacent values `(2i, 2i+1)` (`LLAMA_ROPE_TYPE_NORM`).
        case normal
        /// Halves `(i, i + dims/2)` (`LLAMA_ROPE_TYPE_NEOX`, Hugging Face's `rotate_half`).
        case neox
    }

    /// Number of leading dimensions of each head that are rotated (the rest pass through).
    public let dimensions: Int
    /// The frequency base (`rope.freq_base`, 10000 for the original Llama).
    public let frequencyBase: Float
    /// How the rotated dimensions pair up.
    public let style: Style
    /// Per pair, a divisor of its angle (`rope_freqs.weight`: Llama 3.1's long-context
    /// scaling slows the low frequencies down); nil: every factor is 1.
    public let frequencyFactors: [Float]?

    /// Creates the rotation for heads whose first `dimensions` values rotate.
    /// - Precondition: `frequencyFactors`, when given, has `dimensions / 2` values.
    public init(dimensions: Int, frequencyBase: Float, style: Style = .normal, frequencyFactors: [Float]? = nil) {
        precondition(dimensions > 0 && dimensions % 2 == 0, "RoPE needs an even, positive dimension count")
        precondition(frequencyFactors.map { $0.count == dimensions / 2 } ?? true, "RoPE needs one factor per pair")
        self.dimensions = dimensions
        self.frequencyBase = frequencyBase
        self.style = style
        self.frequencyFactors = frequencyFactors
    }

    /// Fills `cosines` and `sines` (each `dimensions / 2` long) for one position.
    ///
    /// The angle is advanced by repeated multiplication in `Float`, exactly as ggml's
    /// `rope_yarn` cache does, so rounding matches llama.cpp rather than a closed form.
    public func angles(
        position: Int, cosines: UnsafeMutablePointer<Float>, sines: UnsafeMutablePointer<Float>
    ) {
        let thetaScale = powf(frequencyBase, -2 / Float(dimensions))
        var theta = Float(position)
        if let factors = frequencyFactors {
            // ggml divides the advanced angle by the pair's factor before cos/sin.
            for i in 0..<(dimensions / 2) {
                cosines[i] = cosf(theta / factors[i])
                sines[i] = sinf(theta / factors[i])
                theta *= thetaScale
            }
            return
        }
        for i in 0..<(dimensions / 2) {
            cosines[i] = cosf(theta)
            sines[i] = sinf(theta)
            theta *= thetaScale
        }
    }

    /// Rotates `heads` consecutive heads of `headDimension` values in place, using angles
    /// from `angles(position:cosines:sines:)`.
    public func rotate(
        _ x: UnsafeMutablePointer<Float>, heads: Int, headDimension: Int,
        cosines: UnsafePointer<Float>, sines: UnsafePointer<Float>
    ) {
        precondition(dimensions <= headDimension, "RoPE dimensions exceed the head size")
        let half = dimensions / 2
        // The first value of pair i is at first·i, its partner `partner` after it.
        let (first, partner) = style == .normal ? (2, 1) : (1, half)
        for h in 0..<heads {
            let head = x + h * headDimension
            for i in 0..<half {
                let x0 = head[first * i]
                let x1 = head[first * i + partner]
                head[first * i] = x0 * cosines[i] - x1 * sines[i]
                head[first * i + partner] = x0 * sines[i] + x1 * cosines[i]
            }
        }
    }
}
