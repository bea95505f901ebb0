// Q4_1 weights: the 8-row interleaved copy, and the AVX2 instantiation of the x86 kernels of
// Q4_1's canonical arithmetic (gemm_q4_1_x86.inc; spelled out by `dot_q4_1_scalar` in gemm.c,
// documented in canopy_kernels.h).
//
// Why Q4_1 has its own arithmetic: the other types' (8 float lanes of 4 products per block)
// costs every (row, token, block) a vpmaddubsw, a vpmaddwd, a convert and an fma, and on a
// CPU without VNNI a step of a few tokens is bound by those multiplies. Q4_1's keeps each
// block's 32 products an exact int32 and spends one convert and one fma per block; with 8
// rows side by side, one vpmaddubsw serves 8 rows and 8 of them add up in int16, so one
// vpmaddwd, one convert and two fmas finish a block of 8 rows. Measured on a 2-core AVX2
// Zen 3 (bench/results/2026-12-06-de39f85-kernel-layout.md): 1.48x the 8-lane kernel at 1
// token, 2.0-2.3x at 2-32 tokens.
// With VNNI, vpdpbusd forms the same exact int32 in one instruction per 4 products of 8 rows
// (gemm_q4_1_vnni.c).
#include "gemm_internal.h"
#include <string.h>

int canopy_q4_1_interleave(const void *rows, int64_t row_count, int64_t cols, void *out) {
    if (row_count % 8 != 0 || cols % 32 != 0) return -1;
    const int64_t blocks = cols / 32;
    const uint8_t *in = rows;
    uint8_t *o = out;
    for (int64_t g = 0; g < row_count / 8; g++) {
        for (int64_t b = 0; b < blocks; b++, o += CANOPY_Q4_1_GROUP_BLOCK) {
            for (int i = 0; i < 8; i++) {
                const uint8_t *block = in + ((g * 8 + i) * blocks + b) * canopy_block_bytes(CANOPY_WEIGHT_Q4_1);
                memcpy(o + 2 * i, block, 2);
                memcpy(o + 16 + 2 * i, block + 2, 2);
                // Register k holds nibble bytes 4k..4k+3 of every row: values 4k..4k+3 in its
                // low nibbles, 16+4k..16+4k+3 in its high ones.
                for (int k = 0; k < 4; k++) memcpy(o + 32 + 32 * k + 4 * i, block + 4 + 4 * k, 4);
            }
        }
    }
    return 0;
}

void canopy_q4_1_interleaved_block(const void *interleaved, int64_t cols, int64_t r, int64_t b, uint8_t out[20]) {
    const uint8_t *p = (const uint8_t *)interleaved + ((r / 8) * (cols / 32) + b) * CANOPY_Q4_1_GROUP_BLOCK;
    const int i = (int)(r % 8);
    memcpy(out, p + 2 * i, 2);
    memcpy(out + 2, p + 16 + 2 * i, 2);
    for (int k = 0; k < 4; k++) memcpy(out + 4 + 4 * k, p + 32 + 32 * k + 4 * i, 4);
}

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define KERNEL_NAME(name) name##_q4_1_avx2_
#define USE_VNNI 0
#include "gemm_q4_1_x86.inc"
#pragma clang attribute pop
void canopy_gemm_rows_q4_1_avx2(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1) {
    canopy_gemm_rows_q4_1_avx2_(x, job, r0, r1);
}
#endif
