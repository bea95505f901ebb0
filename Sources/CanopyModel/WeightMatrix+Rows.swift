import CanopyKernels

extension WeightMatrix {
    /// Writes row `index` as `cols` floats: how embeddings are looked up.
    func dequantizeRow(_ index: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(index >= 0 && index < rows, "row \(index) outside a matrix of \(rows) rows")
        Dequantize.row(type, from: row(index), into: destination, count: cols)
    }

    /// The matrix of rows `range` only, viewing the same bytes (and the interleaved copy's,
    /// when the range is whole groups of its rows).
    func rows(_ range: Range<Int>) -> WeightMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) outside a matrix of \(rows) rows")
        let group = Self.interleavedGroupRows(of: type)
        let whole = group > 0 && range.lowerBound % group == 0 && range.count % group == 0
        return WeightMatrix(type: type, rows: range.count, cols: cols, data: row(range.lowerBound),
                            interleaved: whole ? interleaved.map { $0 + range.lowerBound * rowBytes } : nil)
    }
}
