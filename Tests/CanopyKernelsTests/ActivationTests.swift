import CanopyKernels
import Foundation
import Testing

/// Element-wise activations against their definitions.
@Suite struct ActivationTests {
    /// GELU's tanh form in Double, from its definition.
    static func gelu(_ x: Double) -> Double {
        0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }

    /// GeGLU is ggml's CPU GELU (f16 in, tanh form in Float, f16 out; ±10 cut-offs) times up,
    /// computed value by value here, and within f16 rounding of the Double definition.
    @Test func geGLUIsGgmlsTabulatedGELU() {
        var inputs: [Float] = stride(from: -12, through: 12, by: 0.013).map { Float($0) }
        inputs += [-10, 10, -9.999, 9.999, 0, -0, 1e-8, -1e-8, 65504, -65504, 3.140625]
        var generator = SystemRandomNumberGenerator()
        inputs += (0..<2000).map { _ in Float.random(in: -30...30, using: &generator) }
        let ups = inputs.indices.map { Float(($0 % 17) - 8) * 0.37 + 0.11 }
        var gate = inputs
        ups.withUnsafeBufferPointer { up in
            gate.withUnsafeMutableBufferPointer { g in
                Activation.geGLU(gate: g.baseAddress!, up: up.baseAddress!, count: g.count)
            }
        }
        for (i, x) in inputs.enumerated() {
            let expected: Float
            if x <= -10 {
                expected = 0
            } else if x >= 10 {
                expected = x * ups[i]
            } else {
                let h = HalfFloat.roundedToHalf(x)
                let g: Float = 0.5 * h * (1 + tanhf(0.797_884_56 * h * (1 + 0.044_715 * h * h)))
                expected = HalfFloat.roundedToHalf(g) * ups[i]
            }
            #expect(gate[i].bitPattern == expected.bitPattern, "x = \(x)")
            if abs(x) < 10 {
                // f16 rounding of input and output: a few parts in a thousand, or 1e-3 near 0.
                let exact = Self.gelu(Double(x)) * Double(ups[i])
                #expect(abs(Double(gate[i]) - exact) <= 4e-3 * abs(exact) + 1e-3, "x = \(x)")
            }
        }
    }
}
