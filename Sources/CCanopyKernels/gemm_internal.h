// Shared between gemm.c (dispatch, scalar reference) and the x86 kernel files.
#ifndef CANOPY_GEMM_INTERNAL_H
#define CANOPY_GEMM_INTERNAL_H

#include "canopy_kernels.h"

/// Computes rows r0..<r1 of `job` for every token of `x` (the canonical arithmetic
/// described in canopy_kernels.h).
typedef void (*canopy_rows_kernel)(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0,
                                   int64_t r1);

void canopy_gemm_rows_scalar(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1);
#if defined(__x86_64__)
void canopy_gemm_rows_avx2(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1);
void canopy_gemm_rows_vnni(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1);
#endif

/// A grow-only scratch buffer owned by the calling thread (pool workers are persistent, so
/// steady-state decoding allocates nothing). Returns NULL if memory is exhausted.
void *canopy_thread_scratch(size_t bytes);
void *canopy_thread_scratch_slot(int slot, size_t bytes);

/// Block size in bytes for `type`.
static inline int64_t canopy_block_bytes(canopy_weight_type type) {
    return type == CANOPY_WEIGHT_Q4_0 ? 18 : type == CANOPY_WEIGHT_Q4_1 ? 20 : 34;
}

#endif
