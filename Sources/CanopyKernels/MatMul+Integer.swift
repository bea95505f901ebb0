import CCanopyKernels

/// The C integer kernels (`CCanopyKernels`) for Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 weights: activations
/// quantized once per call to ggml's Q8_0/Q8_1 values, then tiled int8 dot products with
/// AVX-512 VNNI, AVX2 or scalar code chosen at run time (all three compute the same bits).
///
/// Every output element is computed by one fixed sequence of operations (see
/// `canopy_gemm` in canopy_kernels.h), whatever the batch size, tiling or thread split, so a
/// token's result never depends on what else is in the batch.
extension MatMul {
    /// The C kernel's name for `type`, or nil when the type has no integer kernel in C.
    static func integerKernelType(_ type: GGMLType) -> canopy_weight_type? {
        switch type {
        case .q4_0: return CANOPY_WEIGHT_Q4_0
        case .q4_1: return CANOPY_WEIGHT_Q4_1
        case .q5_0: return CANOPY_WEIGHT_Q5_0
        case .q5_1: return CANOPY_WEIGHT_Q5_1
        case .q8_0: return CANOPY_WEIGHT_Q8_0
        default: return nil
        }
    }

    /// y_m[t * rows_m + r] = Σ_c W_m[r, c] · x[t * cols + c] for every matrix m of `matrices`,
    /// all of which share the input `x` (`tokens` rows of `cols` values).
    ///
    /// With `.quantizedActivations` and matrices of one C-kernel type family (same
    /// activation correction), `x` is quantized once and all rows of all matrices are split
    /// across the worker pool in a single fork-join — how Q, K and V (or gate and up) share
    /// one pass. Otherwise each matrix goes through `multiply(_:input:tokens:output:precision:)`.
    /// Allocates nothing in steady state.
    ///
    /// - Precondition: `matrices.count == outputs.count`, every matrix has the same `cols`,
    ///   `tokens >= 0`, and outputs do not overlap `x` or each other.
    public static func multiply(
        _ matrices: [WeightMatrix], input x: UnsafePointer<Float>, tokens: Int,
        outputs: [UnsafeMutablePointer<Float>], precision: MatMulPrecision
    ) {
        precondition(matrices.count == outputs.count, "MatMul: \(matrices.count) matrices but \(outputs.count) outputs")
        guard let first = matrices.first else { return }
        precondition(matrices.allSatisfy { $0.cols == first.cols }, "MatMul: grouped matrices differ in columns")
        guard let offset = sharedLaneOffset(matrices, tokens: tokens, precision: precision) else {
            for (w, y) in zip(matrices, outputs) { multiply(w, input: x, tokens: tokens, output: y, precision: precision) }
            return
        }
        runGroup(matrices, x, norm: nil, tokens: tokens, laneOffset: offset, outputs: outputs)
    }

    /// y_m = W_m · RMSNorm(x) for every matrix of `matrices`, where RMSNorm(x) row by row is
    /// `RMSNorm.apply(x, weight: normWeight, count: cols, epsilon: epsilon)`, fused into the
    /// activation quantization: the normalised rows are never written out, and the results
    /// are bitwise those of normalising first and then calling
    /// `multiply(_:input:tokens:outputs:precision:)`.
    ///
    /// Fuses only what the grouped C pass would run (`.quantizedActivations`, Q4_0, Q4_1,
    /// Q5_0, Q5_1 or Q8_0 matrices with one activation correction); otherwise returns false having done
    /// nothing, and the caller normalises and multiplies. Allocates nothing in steady state.
    ///
    /// - Precondition: as for the grouped `multiply`; `normWeight` has `cols` values.
    public static func multiplyNormalized(
        _ matrices: [WeightMatrix], input x: UnsafePointer<Float>, normWeight: UnsafePointer<Float>, epsilon: Float,
        tokens: Int, outputs: [UnsafeMutablePointer<Float>], precision: MatMulPrecision
    ) -> Bool {
        precondition(matrices.count == outputs.count, "MatMul: \(matrices.count) matrices but \(outputs.count) outputs")
        guard let first = matrices.first else { return false }
        precondition(matrices.allSatisfy { $0.cols == first.cols }, "MatMul: grouped matrices differ in columns")
        guard let offset = sharedLaneOffset(matrices, tokens: tokens, precision: precision) else { return false }
        runGroup(matrices, x, norm: (normWeight, epsilon), tokens: tokens, laneOffset: offset, outputs: outputs)
        return true
    }

    /// The activation correction every matrix shares when the whole group can run as one C
    /// pass; nil otherwise. A loop, not collection calls: it runs several times per layer.
    private static func sharedLaneOffset(_ matrices: [WeightMatrix], tokens: Int, precision: MatMulPrecision) -> Int32? {
        guard precision == .quantizedActivations, tokens > 0, let first = matrices.first, first.cols > 0 else { return nil }
        var offset: Int32?
        for w in matrices {
            guard let type = integerKernelType(w.type), w.rows > 0 else { return nil }
            let o = canopy_weight_lane_offset(type)
            if offset == nil { offset = o } else if offset != o { return nil }
        }
        return offset
    }

    /// One C pass for a checked group.
    private static func runGroup(
        _ matrices: [WeightMatrix], _ x: UnsafePointer<Float>, norm: (UnsafePointer<Float>, Float)?, tokens: Int,
        laneOffset: Int32, outputs: [UnsafeMutablePointer<Float>]
    ) {
        withUnsafeTemporaryAllocation(of: canopy_gemm_job.self, capacity: matrices.count) { jobs in
            for (i, w) in matrices.enumerated() {
                jobs[i] = canopy_gemm_job(
                    type: integerKernelType(w.type)!, weights: w.data, rows: Int64(w.rows), row_bytes: Int64(w.rowBytes),
                    y: outputs[i], y_stride: Int64(w.rows), group_blocks: 0, y64: nil, interleaved: w.interleaved)
            }
            runIntegerKernels(x, norm: norm, tokens: tokens, cols: matrices[0].cols, laneOffset: laneOffset,
                              jobs: UnsafeBufferPointer(jobs))
        }
    }

    /// One matrix through the C kernels (the caller checked the type and precision).
    static func integerProduct(
        _ w: WeightMatrix, _ x: UnsafePointer<Float>, _ tokens: Int, _ y: UnsafeMutablePointer<Float>
    ) {
        let type = integerKernelType(w.type)!
        let job = canopy_gemm_job(
            type: type, weights: w.data, rows: Int64(w.rows), row_bytes: Int64(w.rowBytes),
            y: y, y_stride: Int64(w.rows), group_blocks: 0, y64: nil, interleaved: w.interleaved)
        withUnsafePointer(to: job) { pointer in
            runIntegerKernels(
                x, norm: nil, tokens: tokens, cols: w.cols, laneOffset: canopy_weight_lane_offset(type),
                jobs: UnsafeBufferPointer(start: pointer, count: 1))
        }
    }

    /// Quantizes `x` (RMS-normalised first when `norm` gives the weight and epsilon) once
    /// into the calling thread's activation scratch and runs `jobs` on it in one fork-join.
    static func runIntegerKernels(
        _ x: UnsafePointer<Float>, norm: (weight: UnsafePointer<Float>, epsilon: Float)?, tokens: Int, cols: Int,
        laneOffset: Int32, jobs: UnsafeBufferPointer<canopy_gemm_job>
    ) {
        let pool = WorkerPool.shared.cPool
        let bytes = canopy_q8_scratch_bytes(Int64(tokens), Int64(cols))
        // On failure the product is skipped and counted (`canopy_scratch_failures`): the
        // forward pass then fails instead of returning what was skipped.
        guard let scratch = canopy_activation_scratch(bytes) else { return }
        var rows = canopy_q8_rows()
        if let norm {
            canopy_q8_quantize_rmsnorm(pool, x, norm.weight, norm.epsilon, Int64(tokens), Int64(cols), laneOffset, scratch, &rows)
        } else {
            canopy_q8_quantize(pool, x, Int64(tokens), Int64(cols), laneOffset, scratch, &rows)
        }
        canopy_gemm(pool, &rows, jobs.baseAddress!, Int32(jobs.count))
    }

    /// K-quant weights through the C kernels: activations quantized to Q8_K
    /// (`canopy_q8k_quantize`, the bytes of ggml's reference quantizer and of
    /// `ActivationQuantizer`) into the calling thread's scratch, then
    /// `canopy_gemm_kquant` (ggml's integer formulas, AVX-512 VNNI, AVX2 or scalar, the same bits).
    static func kQuantProduct(
        _ w: WeightMatrix, _ x: UnsafePointer<Float>, _ tokens: Int, _ y: UnsafeMutablePointer<Float>
    ) {
        let type: canopy_weight_type
        switch w.type {
        case .q2_K: type = CANOPY_WEIGHT_Q2_K
        case .q3_K: type = CANOPY_WEIGHT_Q3_K
        case .q4_K: type = CANOPY_WEIGHT_Q4_K
        case .q5_K: type = CANOPY_WEIGHT_Q5_K
        case .q6_K: type = CANOPY_WEIGHT_Q6_K
        default: preconditionFailure("MatMul: \(w.type) is not a K-quant")
        }
        precondition(w.cols % 256 == 0, "MatMul: \(w.type) needs columns in multiples of 256")
        let rowBytes = GGMLType.q8_K.byteCount(forElements: w.cols)!
        guard let scratch = canopy_activation_scratch(tokens * rowBytes) else { return }  // as above
        ActivationQuantizer.quantizeRowsQ8_K(x, tokens: tokens, cols: w.cols, into: scratch)
        canopy_gemm_kquant(
            WorkerPool.shared.cPool, type, w.data, Int64(w.rows), Int64(w.rowBytes), scratch, Int64(tokens),
            Int64(w.cols), y, Int64(w.rows))
    }
}
