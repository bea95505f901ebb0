import Foundation

/// Rotary position embedding in llama.cpp's "normal" mode: dimension pairs `(2i, 2i+1)` are
/// rotated together by the angle `position · base^(-2i/dims)`.
public struct RoPE: Sendable {
    /// Number of leading dimensions of each head that are rotated (the rest pass through).
    public let dimensions: Int
    /// The frequency base (`rope.freq_base`, 10000 for the original Llama).
    public let frequencyBase: Float

    /// Creates the rotation for heads whose first `dimensions` values rotate.
    public init(dimensions: Int, frequencyBase: Float) {
        precondition(dimensions > 0 && dimensions % 2 == 0, "RoPE needs an even, positive dimension count")
        self.dimensions = dimensions
        self.frequencyBase = frequencyBase
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
        for h in 0..<heads {
            let head = x + h * headDimension
            for i in 0..<(dimensions / 2) {
                let x0 = head[2 * i]
                let x1 = head[2 * i + 1]
                head[2 * i] = x0 * cosines[i] - x1 * sines[i]
                head[2 * i + 1] = x0 * sines[i] + x1 * cosines[i]
            }
        }
    }
}
