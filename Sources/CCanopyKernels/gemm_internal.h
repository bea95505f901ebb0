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
/// Q4_1 jobs, row-major or interleaved, grouped or not (gemm_q4_1_x86.inc).
void canopy_gemm_rows_q4_1_avx2(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1);
void canopy_gemm_rows_q4_1_vnni(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1);
/// Q8_0 jobs, row-major or interleaved, grouped or not (gemm_q8_0_x86.inc).
void canopy_gemm_rows_q8_0_avx2(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1);
void canopy_gemm_rows_q8_0_vnni(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1);
#endif

/// Bytes of one block of 8 rows in `canopy_q4_1_interleave`'s layout: f16 d[8], f16 m[8],
/// and 4 registers of 32 bytes (register k: nibble bytes 4k..4k+3 of every row).
#define CANOPY_Q4_1_GROUP_BLOCK 160

/// How far ahead, in blocks of its 8-row group, the AVX-512 VNNI Q4_1 kernel prefetches each
/// group it streams. On a Xeon (Sapphire Rapids class, the weights in L3) the hardware
/// prefetcher alone left the kernel waiting on L3: 140 matrices 1536 x 576, 2 threads, 1 / 4
/// / 9 tokens 3.4-4.0 / 4.3-5.3 / 6.5-7.2 ms without, 2.1-2.3 / 2.9-3.0 / 6.1-6.2 with 32
/// blocks ahead (8 ahead: about as without; 48 and 64: as 32). The AVX2 copy prefetches
/// nothing (see interleaved_rows).
#define CANOPY_Q4_1_PREFETCH_BLOCKS 32

/// Bytes of one block of 16 rows in `canopy_q8_0_interleave`'s layout: f16 d[16], then 8
/// registers of 64 bytes (register k: values 4k..4k+3 of every row, offset by 128).
#define CANOPY_Q8_0_GROUP_BLOCK 544

/// How far ahead, in blocks of its 16-row group, the AVX-512 VNNI Q8_0 kernel prefetches
/// (about 13 KB, as the prototype in bench/kernel-layout/q8_0_block_sums.c measured best).
#define CANOPY_Q8_0_PREFETCH_BLOCKS 24

/// A grow-only scratch buffer owned by the calling thread (pool workers are persistent, so
/// steady-state decoding allocates nothing). Returns NULL if memory is exhausted.
void *canopy_thread_scratch(size_t bytes);
void *canopy_thread_scratch_slot(int slot, size_t bytes);

/// Block size in bytes for `type` (32-value block types).
static inline int64_t canopy_block_bytes(canopy_weight_type type) {
    switch (type) {
    case CANOPY_WEIGHT_Q4_0: return 18;
    case CANOPY_WEIGHT_Q4_1: return 20;
    case CANOPY_WEIGHT_Q5_0: return 22;
    case CANOPY_WEIGHT_Q5_1: return 24;
    default: return 34;
    }
}

/// Whether `type` stores a per-block min (value = q d + m): its products add Σ m_w·s_x and
/// its unsigned values need no lane-base correction.
static inline int canopy_has_min(canopy_weight_type type) {
    return type == CANOPY_WEIGHT_Q4_1 || type == CANOPY_WEIGHT_Q5_1;
}

/// Whether `type` has the block-sums arithmetic (Q4_1, Q8_0: an exact int32 per block), not
/// the 8-lane one (canopy_kernels.h).
static inline int canopy_has_block_sums(canopy_weight_type type) {
    return type == CANOPY_WEIGHT_Q4_1 || type == CANOPY_WEIGHT_Q8_0;
}

/// Offset of the 16 nibble bytes in a 32-value block (after d, m and qh where present).
static inline int canopy_nibbles_at(canopy_weight_type type) {
    switch (type) {
    case CANOPY_WEIGHT_Q4_0: return 2;
    case CANOPY_WEIGHT_Q4_1: return 4;
    case CANOPY_WEIGHT_Q5_0: return 6;
    case CANOPY_WEIGHT_Q5_1: return 8;
    default: return 2;  // Q8_0: the 32 int8 values
    }
}

/// The little-endian u32 of fifth bits of a Q5_0/Q5_1 block (just before the nibbles).
static inline uint32_t canopy_q5_high_bits(canopy_weight_type type, const uint8_t *block) {
    const uint8_t *p = block + canopy_nibbles_at(type) - 4;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
