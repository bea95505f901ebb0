import CCanopyKernels
/// A read-only row-major matrix in GGML blocks: `rows` rows of `cols` values, each row
/// `type.byteCount(forElements: cols)` bytes, contiguous.
///
/// The matrix does not own `data` (typically a memory-mapped GGUF file). It is
/// `@unchecked Sendable` because it only ever reads through `data`: the owner guarantees the
/// bytes stay mapped and unmodified while any copy of the matrix is in use.
public struct WeightMatrix: @unchecked Sendable {
    /// Element type of the stored blocks.
    public let type: GGMLType
    /// Number of rows (output features).
    public let rows: Int
    /// Number of values per row (input features); a multiple of `type.blockSize`.
    public let cols: Int
    /// First byte of row 0.
    public let data: UnsafeRawPointer
    /// Bytes per row.
    public let rowBytes: Int
    /// Q4_1 and Q8_0 only, optional: the same values with `interleavedGroupRows(of: type)`
    /// rows side by side (`canopy_q4_1_interleave`, `canopy_q8_0_interleave`), which the
    /// integer kernels read instead of `data` (the same bits, faster). Row n·g of a group of
    /// n rows starts at `interleaved + n·g · rowBytes`.
    public let interleaved: UnsafeRawPointer?

    /// Wraps `rows × cols` values of `type` stored at `data`, and optionally their
    /// interleaved copy.
    ///
    /// - Precondition: `type.isDequantizable`, `rows >= 0`, and `cols` is a non-negative
    ///   multiple of `type.blockSize`; with `interleaved`, `canInterleave(type:rows:)`.
    public init(type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer, interleaved: UnsafeRawPointer? = nil) {
        precondition(type.isDequantizable, "WeightMatrix: type \(type) is not supported")
        precondition(rows >= 0, "WeightMatrix: negative row count \(rows)")
        guard let bytes = type.byteCount(forElements: cols) else {
            preconditionFailure(
                "WeightMatrix: \(cols) columns is not a whole number of \(type) blocks")
        }
        precondition(interleaved == nil || Self.canInterleave(type: type, rows: rows),
                     "WeightMatrix: only Q4_1 and Q8_0 matrices of whole groups of rows are interleaved")
        self.type = type
        self.rows = rows
        self.cols = cols
        self.data = data
        self.rowBytes = bytes
        self.interleaved = interleaved
    }

    /// Rows side by side in the interleaved copy of a `type` matrix (8 for Q4_1, 16 for
    /// Q8_0), or 0 for types the integer kernels read only as the file stores them.
    public static func interleavedGroupRows(of type: GGMLType) -> Int {
        MatMul.integerKernelType(type).map { Int(canopy_interleaved_group_rows($0)) } ?? 0
    }

    /// Writes the interleaved copy of a `type` matrix of `rows` × `cols` values stored at
    /// `source` into `destination` (the same byte count): `canopy_q4_1_interleave` or
    /// `canopy_q8_0_interleave`. Returns false, writing nothing, when the type has no
    /// interleaved layout or the C function refuses the shape (rows not a whole number of
    /// groups: see `canInterleave`).
    public static func interleave(
        type: GGMLType, rows: Int, cols: Int, from source: UnsafeRawPointer, into destination: UnsafeMutableRawPointer
    ) -> Bool {
        guard interleavedGroupRows(of: type) > 0 else { return false }
        let status = type == .q4_1
            ? canopy_q4_1_interleave(source, Int64(rows), Int64(cols), destination)
            : canopy_q8_0_interleave(source, Int64(rows), Int64(cols), destination)
        return status == 0
    }

    /// Whether a matrix of this type and shape can have an interleaved copy.
    public static func canInterleave(type: GGMLType, rows: Int) -> Bool {
        let group = interleavedGroupRows(of: type)
        return group > 0 && rows % group == 0
    }

    /// The first byte of row `r`.
    @inlinable
    public func row(_ r: Int) -> UnsafeRawPointer {
        data + r * rowBytes
    }
}
