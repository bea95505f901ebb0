import CanopyKernels
import Foundation
import Testing

/// RoPE against a float64 rotation written from the definition: pair `i` turns by
/// `position · base^(-2i/d) / factor[i]`; pairs are `(2i, 2i+1)` (normal) or `(i, i+d/2)`
/// (NeoX); dimensions past `d` are left alone.
@Suite struct RoPETests {
    static func reference(
        _ x: [Double], position: Int, dims: Int, base: Double, neox: Bool, factors: [Double]?
    ) -> [Double] {
        var y = x
        for i in 0..<(dims / 2) {
            let angle = Double(position) * pow(base, -2 * Double(i) / Double(dims)) / (factors?[i] ?? 1)
            let (a, b) = neox ? (i, i + dims / 2) : (2 * i, 2 * i + 1)
            y[a] = x[a] * cos(angle) - x[b] * sin(angle)
            y[b] = x[a] * sin(angle) + x[b] * cos(angle)
        }
        return y
    }

    @Test(arguments: [RoPE.Style.normal, .neox], [false, true])
    func rotatesAsTheDefinitionSays(style: RoPE.Style, withFactors: Bool) {
        let head = 16, dims = 12, heads = 2
        // Llama 3.1-like factors: 1 for high frequencies, up to 8 for the lowest.
        let factors: [Float]? = withFactors ? [1, 1, 1, 1.5, 3, 8] : nil
        let rope = RoPE(dimensions: dims, frequencyBase: 500_000, style: style, frequencyFactors: factors)
        let x = (0..<(head * heads)).map { Float(sin(Double($0) * 0.7) + 0.1) }
        for position in [0, 1, 7, 300, 4000] {
            var cosines = [Float](repeating: 0, count: dims / 2), sines = cosines
            rope.angles(position: position, cosines: &cosines, sines: &sines)
            var y = x
            rope.rotate(&y, heads: heads, headDimension: head, cosines: cosines, sines: sines)
            for h in 0..<heads {
                let part = Array(x[(h * head)..<((h + 1) * head)]).map(Double.init)
                let expected = Self.reference(part, position: position, dims: dims, base: 500_000,
                                              neox: style == .neox, factors: factors?.map(Double.init))
                for i in 0..<head {
                    // Angles are advanced in Float (as ggml does): error grows with position.
                    #expect(abs(Double(y[h * head + i]) - expected[i]) < 2e-4 * Double(max(1, position / 100)),
                            "position \(position) head \(h) value \(i)")
                }
            }
        }
    }

    @Test func unitFactorsChangeNothing() {
        let plain = RoPE(dimensions: 8, frequencyBase: 10_000)
        let unit = RoPE(dimensions: 8, frequencyBase: 10_000, frequencyFactors: [1, 1, 1, 1])
        var c1 = [Float](repeating: 0, count: 4), s1 = c1, c2 = c1, s2 = c1
        plain.angles(position: 1234, cosines: &c1, sines: &s1)
        unit.angles(position: 1234, cosines: &c2, sines: &s2)
        #expect(c1 == c2 && s1 == s2)
    }
}
