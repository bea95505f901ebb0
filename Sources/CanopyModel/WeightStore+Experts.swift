import CanopyGGUF
import CanopyKernels

extension WeightStore {
    /// Returns the 3-D weight `name` as `experts` matrices of `rows` × `cols` values each.
    ///
    /// GGUF stores a layer's experts as one tensor of dimensions `[cols, rows, experts]`
    /// (innermost first): expert `i`'s matrix is the `i`-th contiguous run of `rows` rows, so
    /// each returned matrix is a view into the mapped file, not a copy.
    public func expertMatrices(_ name: String, experts: Int, rows: Int, cols: Int) throws(ModelError) -> [WeightMatrix] {
        guard let info = file.tensor(named: name) else { throw .missingTensor(name: name) }
        guard info.dimensions == [cols, rows, experts] else {
            throw .tensorShapeMismatch(name: name, expected: [cols, rows, experts], actual: info.dimensions)
        }
        guard info.type.isDequantizable else {
            throw .unsupportedTensorType(name: name, type: info.type)
        }
        let bytes = file.data(of: info)
        guard let base = bytes.baseAddress else { throw .missingTensor(name: name) }
        let first = WeightMatrix(type: info.type, rows: rows, cols: cols, data: base)
        let stride = first.rowBytes * rows
        guard stride * experts <= bytes.count else {
            throw .tensorShapeMismatch(name: name, expected: [cols, rows, experts], actual: info.dimensions)
        }
        return (0..<experts).map { WeightMatrix(type: info.type, rows: rows, cols: cols, data: base + $0 * stride) }
    }

    /// Returns the weight `name` of `cols` values as a 1 × `cols` matrix, accepting either a
    /// 1-D tensor `[cols]` or a 2-D `[cols, 1]`: llama.cpp writes the shared-expert gate
    /// (`ffn_gate_inp_shexp`) as a vector but multiplies it like a one-row matrix.
    public func rowMatrix(_ name: String, cols: Int) throws(ModelError) -> WeightMatrix {
        guard let info = file.tensor(named: name) else { throw .missingTensor(name: name) }
        guard info.dimensions == [cols] || info.dimensions == [cols, 1] else {
            throw .tensorShapeMismatch(name: name, expected: [cols], actual: info.dimensions)
        }
        guard info.type.isDequantizable else {
            throw .unsupportedTensorType(name: name, type: info.type)
        }
        let bytes = file.data(of: info)
        guard let base = bytes.baseAddress else { throw .missingTensor(name: name) }
        return WeightMatrix(type: info.type, rows: 1, cols: cols, data: base)
    }
}
