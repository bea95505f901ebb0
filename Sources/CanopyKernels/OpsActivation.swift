import CCanopyKernels
import Foundation

/// Element-wise activations and the softmax.
public enum Activation {
    /// `gate[i] = silu(gate[i]) * up[i]`: the SwiGLU feed-forward gate, in place, with
    /// silu(g) = g / (1 + e^−g), in CCanopyKernels at the CPU's widest vectors: on AVX2 and
    /// AVX-512 e^x as `VectorMath.exp` computes it (within about 2 ulp, like llama.cpp's
    /// vectorised `ggml_v_expf`; both levels the same bits), at the scalar level libm's `expf`
    /// (as llama.cpp's scalar code). A value's result does not depend on its neighbours.
    /// (libm's `expf` per value had been ~4 % of a 32-stream decode step.)
    public static func swiGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        canopy_swiglu(gate, up, Int64(count))
    }

    /// gate = GELU(gate) · up, elementwise (Gemma's gated feed-forward), with GELU as
    /// llama.cpp computes it on CPUs (ggml's `GGML_GELU_FP16` table): the input rounded to
    /// f16, the tanh form `0.5 x (1 + tanh(√(2/π) x (1 + 0.044715 x²)))` evaluated in Float on
    /// that value and rounded to f16; inputs ≤ −10 give 0 and inputs ≥ 10 pass unchanged.
    ///
    /// The GELU of every f16 value is tabulated once (`geluTable`, 256 KiB), and inputs are
    /// rounded to f16 a chunk at a time by the C kernels (F16C where the CPU has it): a table
    /// lookup per value instead of a tanh and two software conversions, with the same bits.
    public static func geGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        let chunk = 256
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: chunk) { halves in
            geluTable.withUnsafeBufferPointer { table in
                var start = 0
                while start < count {
                    let n = min(chunk, count - start)
                    HalfFloat.narrowRow(gate + start, into: UnsafeMutableRawPointer(halves.baseAddress!), count: n)
                    for i in 0..<n {
                        let x = gate[start + i]
                        if x <= -10 {
                            gate[start + i] = 0
                        } else if x >= 10 {
                            gate[start + i] = x * up[start + i]
                        } else {
                            gate[start + i] = table[Int(halves[i])] * up[start + i]
                        }
                    }
                    start += n
                }
            }
        }
    }

    /// `geluTable[h]`: the f16-rounded GELU (tanh form, in Float) of the f16 value with bit
    /// pattern `h`, as ggml's `ggml_table_gelu_f16`.
    static let geluTable: [Float] = (0..<65_536).map { bits in
        let sqrtTwoOverPi: Float = 0.797_884_560_802_865_355_879_892_119_868_76
        let coefficient: Float = 0.044_715
        let h = HalfFloat.toFloat(UInt16(bits))
        return HalfFloat.roundedToHalf(0.5 * h * (1 + tanhf(sqrtTwoOverPi * h * (1 + coefficient * h * h))))
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
