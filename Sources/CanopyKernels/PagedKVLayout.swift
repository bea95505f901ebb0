/// How cached keys and values are stored.
public enum KVPrecision: String, Sendable, CaseIterable, CustomStringConvertible {
    /// 32-bit floats: exact.
    case f32
    /// IEEE half floats, as llama.cpp's default cache.
    case f16
    /// 8-bit integers with one `Float` scale per head row (`scale = max|x| / 127`).
    case q8

    public var description: String { rawValue }
}

/// The byte layout of the paged KV arena, shared by the block manager (which allocates and
/// copies blocks) and the attention kernels (which read and write rows).
///
/// The arena is `blockCount` blocks. A block holds `blockSize` consecutive token positions
/// of one sequence for every layer: for each layer, `blockSize` key rows, then `blockSize`
/// value rows. A row is one token's vector for all KV heads, `kvHeads × headDimension`
/// values, encoded per `precision`:
/// - `f32`: `kvHeads × headDimension` Floats;
/// - `f16`: `kvHeads × headDimension` half floats (UInt16 bit patterns);
/// - `q8`: `kvHeads` Float scales, then `kvHeads × headDimension` Int8 values (head `h`'s
///   values are `scale[h] × q[h·headDimension + i]`).
/// Blocks are whole and self-contained, so copy-on-write and swapping copy `blockBytes`.
public struct PagedKVLayout: Sendable, Equatable {
    /// Token positions per block.
    public let blockSize: Int
    /// Number of layers.
    public let layers: Int
    /// Key/value heads per layer.
    public let kvHeads: Int
    /// Values per head.
    public let headDimension: Int
    /// Row encoding.
    public let precision: KVPrecision

    /// Creates a layout.
    public init(blockSize: Int, layers: Int, kvHeads: Int, headDimension: Int, precision: KVPrecision) {
        precondition(blockSize > 0 && layers > 0 && kvHeads > 0 && headDimension > 0, "empty KV layout")
        self.blockSize = blockSize
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDimension = headDimension
        self.precision = precision
    }

    /// Values in one row (all heads of one token).
    public var rowWidth: Int { kvHeads * headDimension }

    /// Bytes of one encoded row; a multiple of 4 so Float scales stay aligned.
    public var rowBytes: Int {
        switch precision {
        case .f32: return rowWidth * 4
        case .f16: return (rowWidth * 2 + 3) & ~3
        case .q8: return kvHeads * 4 + ((rowWidth + 3) & ~3)
        }
    }

    /// Bytes of one layer's keys (or values) in one block.
    public var layerHalfBytes: Int { blockSize * rowBytes }

    /// Bytes of one whole block (all layers, keys and values).
    public var blockBytes: Int { layers * 2 * layerHalfBytes }

    /// Byte offset of the key row of `position` (0..<blockSize) of `layer` in block `block`.
    @inline(__always)
    public func keyRowOffset(block: Int, layer: Int, position: Int) -> Int {
        block * blockBytes + (layer * 2) * layerHalfBytes + position * rowBytes
    }

    /// Byte offset of the value row of `position` of `layer` in block `block`.
    @inline(__always)
    public func valueRowOffset(block: Int, layer: Int, position: Int) -> Int {
        block * blockBytes + (layer * 2 + 1) * layerHalfBytes + position * rowBytes
    }
}
