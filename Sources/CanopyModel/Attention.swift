import Foundation

/// Causal grouped-query attention of one token over one sequence's cached keys and values.
///
/// Uses the online softmax (a running maximum and sum, rescaling the accumulator), so no
/// score vector proportional to the sequence is ever allocated.
enum CachedAttention {
    /// Writes `output[h*headDim ..< (h+1)*headDim]` for every query head `h` of one token.
    ///
    /// - Parameters:
    ///   - query: `headCount × headDimension` rotated queries.
    ///   - keys, values: the slot's cache, `positions × (headCountKV × headDimension)`.
    ///   - length: number of cached positions to attend to (the token's position + 1).
    static func attend(
        query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        length: Int, head: Int, headCount: Int, headCountKV: Int, headDimension: Int,
        output: UnsafeMutablePointer<Float>
    ) {
        let group = headCount / headCountKV
        let kvHead = head / group
        let stride = headCountKV * headDimension
        let scale = 1 / Float(headDimension).squareRoot()
        let q = query + head * headDimension
        let out = output + head * headDimension
        for d in 0..<headDimension { out[d] = 0 }
        var runningMax = -Float.infinity
        var runningSum: Float = 0
        for position in 0..<length {
            let k = keys + position * stride + kvHead * headDimension
            var dot: Float = 0
            for d in 0..<headDimension { dot += q[d] * k[d] }
            let score = dot * scale
            if score > runningMax {
                let correction = expf(runningMax - score)
                runningSum *= correction
                for d in 0..<headDimension { out[d] *= correction }
                runningMax = score
            }
            let weight = expf(score - runningMax)
            runningSum += weight
            let v = values + position * stride + kvHead * headDimension
            for d in 0..<headDimension { out[d] += weight * v[d] }
        }
        let inverse = 1 / runningSum
        for d in 0..<headDimension { out[d] *= inverse }
    }
}
