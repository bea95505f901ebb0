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

    /// Creates a store over an opened GGUF file; with `expertCache`, mixture-of-experts
    /// blocks read their routed experts through the cache instead of the mapping; with
    /// `residency`, architectures acquire each block's weights before using them.
    public init(file: GGUFFile, expertCache: ExpertCache? = nil, residency: WeightResidency? = nil) {
        self.file = file
        self.expertCache = expertCache
        self.residency = residency
    }

    /// Why weights read from the file on demand (routed experts, streamed blocks) could not
    /// be read, once that has happened; then no forward pass may return results.
    var readFailure: String? { expertCache?.readFailure ?? residency?.readFailure }

    /// Returns the 2-D weight `name` as a matrix of `rows` × `cols` values.
    ///
    /// GGUF lists dimensions innermost first, so a matrix with `rows` rows of `cols` values
    /// has dimensions `[cols, rows]`.
    public func matrix(_ name: String, rows: Int, cols: Int) throws(ModelError) -> WeightMatrix {
        guard let info = file.tensor(named: name) else { throw .missingTensor(name: name) }
        guard info.dimensions == [cols, rows] else {
            throw .tensorShapeMismatch(name: name, expected: [cols, rows], actual: info.dimensions)
        }
        guard info.type.isDequantizable else {
            throw .unsupportedTensorType(name: name, type: info.type)
        }
        let bytes = file.data(of: info)
        guard let base = bytes.baseAddress else { throw .missingTensor(name: name) }
        return WeightMatrix(type: info.type, rows: rows, cols: cols, data: base)
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

    /// The output projection, `output.weight` (vocabulary × embedding), or `embedding` when
    /// the file ties the two by leaving it out.
    func outputProjection(config: ModelConfig, tiedTo embedding: WeightMatrix) throws(ModelError) -> WeightMatrix {
        guard contains("output.weight") else { return embedding }
        return try matrix("output.weight", rows: config.vocabularySize, cols: config.embeddingLength)
    }
}
