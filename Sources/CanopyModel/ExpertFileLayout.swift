import CanopyGGUF
import CanopyKernels

/// Where each block's routed experts lie in a GGUF file, so they can be read with `pread`
/// instead of through the memory map.
///
/// GGUF stores a block's experts as one `[cols, rows, experts]` tensor per projection, expert
/// `i` being the `i`-th contiguous slice; one expert's three slices are therefore three runs
/// of bytes at known absolute file offsets.
struct ExpertFileLayout: Sendable {
    /// One projection (gate, up or down) of every expert of a block.
    struct Projection: Sendable {
        var type: GGMLType
        var rows: Int
        var cols: Int
        /// Absolute file offset of expert 0's bytes.
        var fileOffset: Int
        /// Bytes of one expert's matrix (and the distance between consecutive experts).
        var stride: Int

        /// The bytes of `expert`'s matrix: absolute file offset and length.
        func range(of expert: Int) -> (offset: Int, count: Int) {
            (fileOffset + expert * stride, stride)
        }
    }

    /// One block's experts; the three projections of an expert are laid out back to back in
    /// a cache slot in this order.
    struct Block: Sendable {
        var gate: Projection
        var up: Projection
        var down: Projection

        /// Bytes one expert takes in memory (its three matrices).
        var expertBytes: Int { gate.stride + up.stride + down.stride }

        /// The expert's SwiGLU network over a slot holding its three matrices.
        func weights(at base: UnsafeRawPointer) -> SwiGLUWeights {
            SwiGLUWeights(
                gate: WeightMatrix(type: gate.type, rows: gate.rows, cols: gate.cols, data: base),
                up: WeightMatrix(type: up.type, rows: up.rows, cols: up.cols, data: base + gate.stride),
                down: WeightMatrix(type: down.type, rows: down.rows, cols: down.cols, data: base + gate.stride + up.stride))
        }
    }

    /// Per block index: its experts' layout, nil for a dense block.
    let blocks: [Block?]

    /// The file byte ranges holding routed experts (one per projection tensor).
    var fileRanges: [Range<Int>] {
        blocks.compactMap { $0 }.flatMap { block in
            [block.gate, block.up, block.down].map { $0.fileOffset..<($0.fileOffset + $0.stride * experts) }
        }
    }
    /// Routed experts per MoE block.
    let experts: Int

    /// Reads the layout of `config`'s experts from `file`'s tensor table, checking shapes
    /// and types exactly as the memory-mapped path does.
    init(file: GGUFFile, config: ModelConfig, experts x: ExpertConfig) throws(ModelError) {
        let e = config.embeddingLength
        let f = x.feedForwardLength
        func projection(_ name: String, rows: Int, cols: Int) throws(ModelError) -> Projection {
            guard let info = file.tensor(named: name) else { throw .missingTensor(name: name) }
            guard info.dimensions == [cols, rows, x.count] else {
                throw .tensorShapeMismatch(name: name, expected: [cols, rows, x.count], actual: info.dimensions)
            }
            guard info.type.isDequantizable else { throw .unsupportedTensorType(name: name, type: info.type) }
            guard info.byteCount % x.count == 0, info.byteCount > 0 else {
                throw .tensorShapeMismatch(name: name, expected: [cols, rows, x.count], actual: info.dimensions)
            }
            return Projection(
                type: info.type, rows: rows, cols: cols,
                fileOffset: file.dataOffset + info.offset, stride: info.byteCount / x.count)
        }
        var blocks: [Block?] = []
        for i in 0..<config.blockCount {
            let p = "blk.\(i)."
            // The same rule as `FeedForwardWeights`: a block has experts iff it has a router.
            guard file.tensor(named: p + "ffn_gate_inp.weight") != nil else {
                blocks.append(nil)
                continue
            }
            blocks.append(Block(
                gate: try projection(p + "ffn_gate_exps.weight", rows: f, cols: e),
                up: try projection(p + "ffn_up_exps.weight", rows: f, cols: e),
                down: try projection(p + "ffn_down_exps.weight", rows: e, cols: f)))
        }
        self.blocks = blocks
        experts = x.count
    }

    /// Bytes of the largest expert (the size of one cache slot).
    var largestExpertBytes: Int { blocks.compactMap { $0?.expertBytes }.max() ?? 0 }

    /// Routed experts over all blocks.
    var totalExperts: Int { blocks.compactMap { $0 }.count * experts }

    /// Bytes of all routed experts together.
    var totalBytes: Int { blocks.compactMap { $0.map { $0.expertBytes * experts } }.reduce(0, +) }
}
