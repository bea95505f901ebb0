import CCanopyKernels
import CanopyGGUF
import CanopyKernels

/// Where a model's tensor bytes come from.
///
/// Today every tensor is a view into the memory-mapped GGUF file, so "loading" a weight
/// costs nothing and pages come in on first use. Architectures ask the store for each
/// layer's weights by name and shape, and never assume anything about residency, so a
/// later store can stream or shard weights behind the same calls.
public final class WeightStore: Sendable {
    /// The file the weights are mapped from; kept alive as long as the store.
    public let file: GGUFFile

    /// Where routed experts come from when they are offloaded; nil: views into the mapping.
    public let expertCache: ExpertCache?

    /// Which blocks are streamed under a weight memory budget; nil: all resident.
    public let residency: WeightResidency?

    /// Whether Q4_1 and Q8_0 matrices get an interleaved copy for the integer kernels.
    public let interleavesWeights: Bool

    /// The parts of split matrices this store read or copied; they live as long as the store.
    private let parts = Locked<[PageMemory]>([])

    /// The interleaved copies of Q4_1 and Q8_0 matrices, by tensor (and part); they live as long as the store.
    private let interleavedCopies = Locked<[String: PageMemory]>([:])

    /// Creates a store over an opened GGUF file; with `expertCache`, mixture-of-experts
    /// blocks read their routed experts through the cache instead of the mapping; with
    /// `residency`, architectures acquire each block's weights before using them. With
    /// `interleavesWeights`, every Q4_1 matrix (or part) of a row count divisible by 8, and
    /// every Q8_0 one of a row count divisible by 16, that `matrix` hands out carries an
    /// interleaved copy (`WeightMatrix.interleaved`), which the integer kernels read faster
    /// for the same bits (Q4_1 1.5-2.3x on AVX2; Q8_0 1.4-3.4x with AVX-512 VNNI); it costs
    /// the matrix's bytes again (`interleavedBytes`). Only for resident weights: streamed
    /// blocks are not in memory when the model is built.
    public init(
        file: GGUFFile, expertCache: ExpertCache? = nil, residency: WeightResidency? = nil, interleavesWeights: Bool = false
    ) {
        self.file = file
        self.expertCache = expertCache
        self.residency = residency
        self.interleavesWeights = interleavesWeights && residency == nil
    }

    /// Bytes held by parts of split matrices (a tensor-parallel rank's share of them).
    public var partBytes: Int { parts.withLock { $0.reduce(0) { $0 + $1.byteCount } } }

    /// Bytes held by interleaved copies of Q4_1 and Q8_0 matrices.
    public var interleavedBytes: Int { interleavedCopies.withLock { $0.values.reduce(0) { $0 + $1.byteCount } } }

    /// The reads of weights from the file on demand (routed experts, streamed blocks) that
    /// failed since load: a pass during which one failed may not return results.
    var readFailures: ReadFailureLog {
        (expertCache?.readFailures ?? ReadFailureLog()).merged(with: residency?.readFailures ?? ReadFailureLog())
    }

    /// Returns the 2-D weight `name` as a matrix of `rows` × `cols` values.
    ///
    /// GGUF lists dimensions innermost first, so a matrix with `rows` rows of `cols` values
    /// has dimensions `[cols, rows]`.
    public func matrix(_ name: String, rows: Int, cols: Int) throws(ModelError) -> WeightMatrix {
        let info = try matrixInfo(name, rows: rows, cols: cols)
        let bytes = file.data(of: info)
        guard let base = bytes.baseAddress else { throw .missingTensor(name: name) }
        return withInterleavedCopy(WeightMatrix(type: info.type, rows: rows, cols: cols, data: base), key: name)
    }

    /// `m` with an interleaved copy when this store makes them and `m` can have one; one copy
    /// per `key`, however often it is asked for (a tied output and embedding).
    private func withInterleavedCopy(_ m: WeightMatrix, key: String) -> WeightMatrix {
        guard interleavesWeights, WeightMatrix.canInterleave(type: m.type, rows: m.rows) else { return m }
        let copy = interleavedCopies.withLock { copies in
            if let copy = copies[key] { return copy }
            let copy = PageMemory(byteCount: m.rows * m.rowBytes)
            let done = WeightMatrix.interleave(type: m.type, rows: m.rows, cols: m.cols, from: m.data, into: copy.base)
            precondition(done, "the interleaving of \(m.type) refused a checked shape")
            copies[key] = copy
            return copy
        }
        return WeightMatrix(type: m.type, rows: m.rows, cols: m.cols, data: m.data, interleaved: copy.base)
    }

    /// Returns `part` of the 2-D weight `name` (`rows` × `cols` in the file) as a matrix of
    /// its own, read from the file into memory this store owns: a tensor-parallel rank's share. Nil `part`: the
    /// whole matrix, as `matrix(_:rows:cols:)`.
    ///
    /// - Throws: the shape errors of `matrix(_:rows:cols:)`; `.cannotShard` when a column
    ///   range cuts a quantization block, or the file cannot be read.
    public func matrix(_ name: String, rows: Int, cols: Int, part: MatrixPart?) throws(ModelError) -> WeightMatrix {
        guard let part else { return try matrix(name, rows: rows, cols: cols) }
        let info = try matrixInfo(name, rows: rows, cols: cols)
        guard let rowBytes = info.type.byteCount(forElements: cols) else {
            throw .unsupportedTensorType(name: name, type: info.type)
        }
        let start = file.dataOffset + info.offset
        switch part {
        case .rows(let range):
            precondition(range.lowerBound >= 0 && range.upperBound <= rows && !range.isEmpty, "rows \(range) outside \(name)")
            let memory = try read(name, start + range.lowerBound * rowBytes, bytes: range.count * rowBytes)
            return withInterleavedCopy(WeightMatrix(type: info.type, rows: range.count, cols: cols, data: memory.base),
                                       key: "\(name) rows \(range)")
        case .columns(let range):
            precondition(range.lowerBound >= 0 && range.upperBound <= cols && !range.isEmpty, "columns \(range) outside \(name)")
            guard let skip = info.type.byteCount(forElements: range.lowerBound),
                  let partRow = info.type.byteCount(forElements: range.count) else {
                throw .cannotShard("columns \(range) of \(name) cut its \(info.type) blocks of \(info.type.blockSize)")
            }
            // The rows' parts are strided in the file: read the tensor once, keep the parts.
            let whole = try read(name, start, bytes: rows * rowBytes, keep: false)
            let memory = PageMemory(byteCount: rows * partRow)
            for r in 0..<rows {
                (memory.base + r * partRow).copyMemory(from: whole.base + r * rowBytes + skip, byteCount: partRow)
            }
            parts.withLock { $0.append(memory) }
            return withInterleavedCopy(WeightMatrix(type: info.type, rows: rows, cols: range.count, data: memory.base),
                                       key: "\(name) columns \(range)")
        }
    }

    /// `bytes` bytes of the file from absolute offset `offset`, read into fresh memory (kept
    /// by the store when `keep`). Read from the file, not from the loaded bytes: a parallel
    /// rank leaves the split tensors unread (`LoadedModel`).
    private func read(_ name: String, _ offset: Int, bytes: Int, keep: Bool = true) throws(ModelError) -> PageMemory {
        let memory = PageMemory(byteCount: bytes)
        if let failure = file.readCopy(offset..<(offset + bytes), into: memory.base) {
            throw .cannotShard("reading \(name) from the file failed: \(failure)")
        }
        if keep { parts.withLock { $0.append(memory) } }
        return memory
    }

    /// The tensor `name`, checked to be a matrix of `rows` × `cols` values (see
    /// `matrix(_:rows:cols:)`) of a type the kernels compute with.
    private func matrixInfo(_ name: String, rows: Int, cols: Int) throws(ModelError) -> GGUFTensorInfo {
        guard let info = file.tensor(named: name) else { throw .missingTensor(name: name) }
        guard info.dimensions == [cols, rows] else {
            throw .tensorShapeMismatch(name: name, expected: [cols, rows], actual: info.dimensions)
        }
        guard info.type.isDequantizable else {
            throw .unsupportedTensorType(name: name, type: info.type)
        }
        return info
    }

    /// Returns the 1-D weight `name` of `count` values, converted to `Float`.
    public func vector(_ name: String, count: Int) throws(ModelError) -> [Float] {
        guard let info = file.tensor(named: name) else { throw .missingTensor(name: name) }
        guard info.dimensions == [count] else {
            throw .tensorShapeMismatch(name: name, expected: [count], actual: info.dimensions)
        }
        guard info.type.isDequantizable else {
            throw .unsupportedTensorType(name: name, type: info.type)
        }
        let bytes = file.data(of: info)
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            Dequantize.row(info.type, from: bytes.baseAddress!, into: buffer.baseAddress!, count: count)
            initialized = count
        }
    }

    /// Whether the file holds a tensor called `name`.
    public func contains(_ name: String) -> Bool {
        file.tensor(named: name) != nil
    }
}
