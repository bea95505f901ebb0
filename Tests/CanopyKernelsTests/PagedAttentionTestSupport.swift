import Foundation

@testable import CanopyKernels

/// Deterministic pseudo-random numbers (SplitMix64) for the paged-attention tests.
struct AttentionTestRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` floats uniform in `-amplitude...amplitude`.
    mutating func floats(_ count: Int, amplitude: Float = 1) -> [Float] {
        (0..<count).map { _ in Float.random(in: -amplitude...amplitude, using: &self) }
    }
}

/// One request of an `attend` call in the tests: queries for positions
/// `firstPosition ..< firstPosition + queryCount` of fixture sequence `sequence`.
struct AttentionRequest {
    var sequence: Int
    var firstPosition: Int
    var queryCount: Int
}

/// A paged arena filled with random keys and values for a few sequences, whose blocks are
/// spread over the arena in shuffled order; unused rows hold NaN patterns so that a kernel
/// reading past a query's position poisons its output.
final class PagedAttentionFixture {
    let layout: PagedKVLayout
    let headCount: Int
    /// Layer the tests attend over; the other layer holds different values.
    let layer: Int
    let lengths: [Int]
    /// Per sequence, `length × rowWidth` original keys and values of `layer`.
    private(set) var keys: [[Float]] = []
    private(set) var values: [[Float]] = []
    /// Per sequence, `length × headCount × headDimension` queries (one per position).
    private(set) var queries: [[Float]] = []
    let arena: UnsafeMutableRawPointer
    let arenaBytes: Int
    private var tables: [UnsafeMutablePointer<Int32>] = []

    init(layout: PagedKVLayout, headCount: Int, lengths: [Int], seed: UInt64, keyAmplitude: Float = 1) {
        self.layout = layout
        self.headCount = headCount
        self.lengths = lengths
        layer = layout.layers - 1
        var random = AttentionTestRandom(seed: seed)
        let blocksPer = lengths.map { ($0 + layout.blockSize - 1) / layout.blockSize }
        let blockCount = blocksPer.reduce(0, +) + 3
        arenaBytes = blockCount * layout.blockBytes
        arena = UnsafeMutableRawPointer.allocate(byteCount: arenaBytes, alignment: 64)
        arena.initializeMemory(as: UInt8.self, repeating: 0xFF, count: arenaBytes)
        var free = Array(0..<Int32(blockCount)).shuffled(using: &random)
        let width = layout.rowWidth
        let queryWidth = headCount * layout.headDimension
        for (s, length) in lengths.enumerated() {
            let table = UnsafeMutablePointer<Int32>.allocate(capacity: Swift.max(1, blocksPer[s]))
            for b in 0..<blocksPer[s] { table[b] = free.removeLast() }
            tables.append(table)
            // Keys scaled so that scores spread over several units: peaked and flat softmaxes.
            let k = random.floats(length * width, amplitude: keyAmplitude)
            let v = random.floats(length * width)
            keys.append(k)
            values.append(v)
            queries.append(random.floats(length * queryWidth, amplitude: 2))
            let other = random.floats(width)
            for position in 0..<length {
                let block = table[position / layout.blockSize]
                let offset = position % layout.blockSize
                k.withUnsafeBufferPointer { kp in
                    v.withUnsafeBufferPointer { vp in
                        PagedAttention.store(key: kp.baseAddress! + position * width, value: vp.baseAddress! + position * width,
                                             arena: arena, layout: layout, layer: layer, block: block, offset: offset)
                    }
                }
                for otherLayer in 0..<layer {
                    PagedAttention.store(key: other, value: other, arena: arena, layout: layout,
                                         layer: otherLayer, block: block, offset: offset)
                }
            }
        }
    }

    deinit {
        arena.deallocate()
        for table in tables { table.deallocate() }
    }

    /// Keys or values of `sequence` as the kernels see them: decoded from the arena.
    func decoded(sequence: Int, keys wantKeys: Bool) -> [Float] {
        let width = layout.rowWidth
        var out = [Float](repeating: 0, count: lengths[sequence] * width)
        out.withUnsafeMutableBufferPointer { dst in
            for position in 0..<lengths[sequence] {
                let block = Int(tables[sequence][position / layout.blockSize])
                let offset = position % layout.blockSize
                let byteOffset = wantKeys
                    ? layout.keyRowOffset(block: block, layer: layer, position: offset)
                    : layout.valueRowOffset(block: block, layer: layer, position: offset)
                KVRowCodec.decode(arena + byteOffset, into: dst.baseAddress! + position * width, layout: layout)
            }
        }
        return out
    }

    /// Runs one `attend` call over `requests`, laid out in the batch in the given order with
    /// a spare row between requests (which must stay untouched), and returns each request's
    /// output rows.
    func attend(_ requests: [AttentionRequest]) -> [[Float]] {
        let queryWidth = headCount * layout.headDimension
        var rows = 0
        var starts: [Int] = []
        for request in requests {
            starts.append(rows)
            rows += request.queryCount + 1
        }
        var batch = [Float](repeating: .nan, count: rows * queryWidth)
        var sequences: [AttentionSequence] = []
        for (request, start) in zip(requests, starts) {
            precondition(request.firstPosition + request.queryCount <= lengths[request.sequence])
            let source = queries[request.sequence]
            let from = request.firstPosition * queryWidth
            batch.replaceSubrange(start * queryWidth ..< (start + request.queryCount) * queryWidth,
                                  with: source[from ..< from + request.queryCount * queryWidth])
            sequences.append(AttentionSequence(queryStart: start, queryCount: request.queryCount,
                                               firstPosition: request.firstPosition,
                                               blockTable: tables[request.sequence]))
        }
        let sentinel: Float = 12345
        var output = [Float](repeating: sentinel, count: rows * queryWidth)
        batch.withUnsafeBufferPointer { q in
            output.withUnsafeMutableBufferPointer { out in
                PagedAttention.attend(sequences: sequences, queries: q.baseAddress!, headCount: headCount,
                                      arena: arena, layout: layout, layer: layer, output: out.baseAddress!)
            }
        }
        for (request, start) in zip(requests, starts) {
            let spare = (start + request.queryCount) * queryWidth
            precondition(output[spare ..< spare + queryWidth].allSatisfy { $0 == sentinel }, "spare row written")
        }
        return zip(requests, starts).map { request, start in
            Array(output[start * queryWidth ..< (start + request.queryCount) * queryWidth])
        }
    }

    /// Softmax attention in `Double` for the query at `position` of `sequence` over the
    /// given keys and values (`length × rowWidth` each), all heads.
    func reference(sequence: Int, position: Int, keys k: [Float], values v: [Float]) -> [Double] {
        let hd = layout.headDimension
        let width = layout.rowWidth
        let group = headCount / layout.kvHeads
        let query = queries[sequence][(position * headCount * hd)...]
        let base = query.startIndex
        var out = [Double](repeating: 0, count: headCount * hd)
        var scores = [Double](repeating: 0, count: position + 1)
        let scale = 1 / Double(hd).squareRoot()
        for head in 0..<headCount {
            let kvOffset = (head / group) * hd
            var maxScore = -Double.infinity
            for j in 0...position {
                var dot = 0.0
                for d in 0..<hd { dot += Double(query[base + head * hd + d]) * Double(k[j * width + kvOffset + d]) }
                scores[j] = dot * scale
                maxScore = Swift.max(maxScore, scores[j])
            }
            var total = 0.0
            for j in 0...position {
                scores[j] = Foundation.exp(scores[j] - maxScore)
                total += scores[j]
            }
            for j in 0...position {
                let w = scores[j] / total
                for d in 0..<hd { out[head * hd + d] += w * Double(v[j * width + kvOffset + d]) }
            }
        }
        return out
    }
}

/// max |actual − expected| / max |expected|, the usual relative error of a whole output.
func attentionRelativeError(_ actual: [Float], _ expected: [Double]) -> Double {
    precondition(actual.count == expected.count)
    var maxError = 0.0
    var maxValue = 0.0
    for (a, e) in zip(actual, expected) {
        let error = abs(Double(a) - e)
        // NaN must fail, so it is not allowed to vanish in `max`.
        if error.isNaN { return .infinity }
        maxError = Swift.max(maxError, error)
        maxValue = Swift.max(maxValue, abs(e))
    }
    return maxError / Swift.max(maxValue, 1e-30)
}
