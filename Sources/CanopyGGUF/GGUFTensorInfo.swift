import CanopyKernels

/// One tensor's entry in a GGUF file's header.
///
/// A `GGUFTensorInfo` obtained from a `GGUFFile` is validated: it has 1–4 positive
/// dimensions, its row length (`dimensions[0]`) is a multiple of `type.blockSize`, its data
/// lies wholly inside the file's data section, and it does not overlap another tensor.
public struct GGUFTensorInfo: Sendable, Hashable {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    public let name: String
    /// The dimensions as GGUF stores them: innermost (contiguous, the row length) first.
    public let dimensions: [Int]
    /// The element type of the stored data.
    public let type: GGMLType
    /// Byte offset of the tensor's data, relative to the start of the data section.
    public let offset: Int
    /// Number of bytes the tensor's data takes.
    public let byteCount: Int

    /// Number of values in the tensor: the product of its dimensions.
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// Number of values per row: the innermost dimension.
    public var rowLength: Int { dimensions[0] }

    /// Number of rows: the product of every dimension but the innermost.
    public var rowCount: Int { dimensions.dropFirst().reduce(1, *) }

    init(name: String, dimensions: [Int], type: GGMLType, offset: Int, byteCount: Int) {
        self.name = name
        self.dimensions = dimensions
        self.type = type
        self.offset = offset
        self.byteCount = byteCount
    }
}
