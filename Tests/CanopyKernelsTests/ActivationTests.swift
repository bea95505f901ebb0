import CCanopyKernels
@testable import CanopyKernels
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

    /// SwiGLU against silu(g) · up in Double: within a few ulp of the product (the exponential
    /// is within ~2 ulp, the quotient and product round once each), or within 1e-30 where
    /// silu is that small (g below −88, where e^−g overflows a float and the result is ±0).
    @Test func swiGLUIsSiluTimesUp() {
        var inputs: [Float] = stride(from: -20, through: 20, by: 0.0071).map { Float($0) }
        inputs += [0, -0, 1e-8, -1e-8, 87, 88, 89, 100, -87, -88, -89, -100, 1e30, -1e30]
        var generator = SystemRandomNumberGenerator()
        inputs += (0..<3001).map { _ in Float.random(in: -60...60, using: &generator) }
        let ups = inputs.indices.map { Float(($0 % 13) - 6) * 0.29 + 0.07 }
        var gate = inputs
        ups.withUnsafeBufferPointer { up in
            gate.withUnsafeMutableBufferPointer { g in
                Activation.swiGLU(gate: g.baseAddress!, up: up.baseAddress!, count: g.count)
            }
        }
        for (i, x) in inputs.enumerated() {
            let exact = Double(x) / (1 + Foundation.exp(-Double(x))) * Double(ups[i])
            #expect(abs(Double(gate[i]) - exact) <= 4 * Double(Float(exact).ulp) + 1e-30, "x = \(x)")
        }
    }

    /// A value's SwiGLU does not depend on where it sits in the row: the vector body and the
    /// tail give the same bits (what batch invariance needs of an element-wise step).
    @Test func swiGLUValueIsIndependentOfItsPosition() {
        var generator = SystemRandomNumberGenerator()
        let gates = (0..<37).map { _ in Float.random(in: -12...12, using: &generator) }
        let ups = (0..<37).map { _ in Float.random(in: -3...3, using: &generator) }
        func run(_ g: [Float], _ u: [Float]) -> [Float] {
            var out = g
            u.withUnsafeBufferPointer { up in
                out.withUnsafeMutableBufferPointer { Activation.swiGLU(gate: $0.baseAddress!, up: up.baseAddress!, count: $0.count) }
            }
            return out
        }
        let whole = run(gates, ups)
        for start in 0..<8 {
            for count in [1, 3, 8, 11] where start + count <= gates.count {
                let part = run(Array(gates[start..<(start + count)]), Array(ups[start..<(start + count)]))
                #expect(part.map(\.bitPattern) == whole[start..<(start + count)].map(\.bitPattern))
            }
        }
    }

    /// The vector levels compute the same bits, those of Swift's `VectorMath.exp` (the
    /// exponential the attention softmax uses) in g / (1 + e^−g) · up; the scalar level those
    /// of libm's `expf` in the same formula (what every level computed before the loop moved to C).
    @Test func swiGLUIsVectorMathsExponentialOnVectorLevelsAndExpfOnScalar() {
        var inputs: [Float] = stride(from: -95, through: 95, by: 0.037).map { Float($0) }
        inputs += [0, -0, .infinity, -.infinity, 1e-40, -1e-40, 87.33654, -87.33654, 88, -88, 1e30, -1e30]
        var generator = SystemRandomNumberGenerator()
        inputs += (0..<1001).map { _ in Float.random(in: -100...100, using: &generator) }
        let ups = inputs.indices.map { Float(($0 % 11) - 5) * 0.43 + 0.05 }
        var expected = [Float](repeating: 0, count: inputs.count)
        for start in stride(from: 0, to: inputs.count, by: 8) {
            var g = SIMD8<Float>(repeating: 0), u = SIMD8<Float>(repeating: 0)
            let n = Swift.min(8, inputs.count - start)
            for lane in 0..<n { (g[lane], u[lane]) = (inputs[start + lane], ups[start + lane]) }
            let e = VectorMath.exp(-g).replacing(with: .infinity, where: g .< -88)
            let result = g / (1 + e) * u
            for lane in 0..<n { expected[start + lane] = result[lane] }
        }
        let scalar = inputs.indices.map { inputs[$0] / (1 + expf(-inputs[$0])) * ups[$0] }
        for isa in [CANOPY_ISA_SCALAR, CANOPY_ISA_AVX2, CANOPY_ISA_AVX512VNNI] where isa.rawValue <= canopy_isa_supported().rawValue {
            let expected = isa == CANOPY_ISA_SCALAR ? scalar : expected
            var gate = inputs
            ups.withUnsafeBufferPointer { up in
                gate.withUnsafeMutableBufferPointer { canopy_swiglu_at(isa, $0.baseAddress!, up.baseAddress!, Int64($0.count)) }
            }
            for i in inputs.indices where gate[i].bitPattern != expected[i].bitPattern {
                Issue.record("level \(isa.rawValue), g = \(inputs[i]): \(gate[i]) vs \(expected[i])")
                break
            }
        }
    }
}
