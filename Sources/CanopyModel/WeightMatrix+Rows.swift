import CanopyKernels

extension WeightMatrix {
    /// Writes row `index` as `cols` floats: how embeddings are looked up.
    func dequantizeRow(_ index: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(index >= 0 && index < rows, "row \(index) outside a matrix of \(rows) rows")
        Dequantize.row(type, from: row(index), into: destination, count: cols)
    }
}
