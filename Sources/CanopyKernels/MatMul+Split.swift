import CCanopyKernels

/// Products whose input columns tensor parallelism splits across ranks (a layer's attention
/// output and feed-forward down projections): each rank multiplies its columns, and the
/// ranks' partial products are added. Summed in float, a split reorders the additions, and
/// the last-bit differences that leaves are enough to move later int8 activation roundings:
/// two ranks' logits then drifted from one process's (cosine 0.9998 over 30 layers). These
/// products therefore sum fixed column groups in float and the groups in double, in one
/// process as on every rank, so a split on group boundaries sums to the whole's floats.
extension MatMul {
    /// y[t * w.rows + r] = Σ_c W[r, c] · x[t * w.cols + c] for t in 0..<tokens, in double,
    /// with the columns taken in groups of `groupBlocks` 32-value blocks (the last group may
    /// be shorter): each group summed in float as the integer kernels sum a row, the groups
    /// added in double (`canopy_gemm_job.group_blocks`). The products of column parts cut on
    /// group boundaries, added in double, round to the float of the whole product (ties
    /// within a double rounding error aside).
    ///
    /// Runs for `.quantizedActivations` with Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0 weights, and
    /// returns false having done nothing otherwise; the caller then multiplies in float
    /// (`multiply`), whose splits round differently from the whole. Like every integer
    /// product, each output is computed by one fixed sequence of operations whatever the
    /// batch, the tiling, the threads or the instruction set. Allocates nothing in steady
    /// state.
    ///
    /// - Precondition: `tokens >= 0`, `groupBlocks > 0`; `y` holds `tokens × w.rows` doubles.
    public static func multiplySplitInvariant(
        _ w: WeightMatrix, input x: UnsafePointer<Float>, tokens: Int, groupBlocks: Int,
        output y: UnsafeMutablePointer<Double>, precision: MatMulPrecision
    ) -> Bool {
        precondition(tokens >= 0, "MatMul: negative token count \(tokens)")
        precondition(groupBlocks > 0, "MatMul: column groups of \(groupBlocks) blocks")
        guard precision == .quantizedActivations, let type = integerKernelType(w.type), w.cols > 0 else { return false }
        guard tokens > 0, w.rows > 0 else { return true }
        let job = canopy_gemm_job(
            type: type, weights: w.data, rows: Int64(w.rows), row_bytes: Int64(w.rowBytes),
            y: nil, y_stride: Int64(w.rows), group_blocks: Int64(groupBlocks), y64: y,
            interleaved: w.interleaved)
        withUnsafePointer(to: job) { pointer in
            runIntegerKernels(
                x, norm: nil, tokens: tokens, cols: w.cols, laneOffset: canopy_weight_lane_offset(type),
                jobs: UnsafeBufferPointer(start: pointer, count: 1))
        }
        return true
    }
}
