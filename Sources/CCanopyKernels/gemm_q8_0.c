// Q8_0 weights: the 16-row interleaved copy, and the AVX2 instantiation of the x86 kernels of
// Q8_0's canonical arithmetic (gemm_q8_0_x86.inc; spelled out by `dot_block_sums_scalar` in
// gemm.c, documented in canopy_kernels.h).
//
// Why Q8_0 shares Q4_1's arithmetic (per block one exact int32, one convert and one fma)
// rather than the 8-lane one of the other types: the 8-lane arithmetic converts, scales and
// accumulates every 4 products in float, so a verification window's extra tokens each paid
// about 0.29 ms on SmolLM2's tied output matrix (Q8_0, 49152 x 576) on a 2-core Xeon; with
// 16 rows side by side and the block sums exact, vpdpbusd forms 16 rows' sums of 4 products
// per instruction and a block of 16 rows costs 8 of them, a convert and an fma per token
// (bench/kernel-layout/q8_0_block_sums.c measured the arithmetic 1.4-2.1x faster at 1 token,
// 2.7-3.4x at 9). It is also llama.cpp's own Q8_0 dot.
#include "gemm_internal.h"
#include <string.h>

int canopy_q8_0_interleave(const void *rows, int64_t row_count, int64_t cols, void *out) {
    if (row_count % 16 != 0 || cols % 32 != 0) return -1;
    const int64_t blocks = cols / 32, bb = canopy_block_bytes(CANOPY_WEIGHT_Q8_0);
    const uint8_t *in = rows;
    uint8_t *o = out;
    for (int64_t g = 0; g < row_count / 16; g++) {
        for (int64_t b = 0; b < blocks; b++, o += CANOPY_Q8_0_GROUP_BLOCK) {
            for (int i = 0; i < 16; i++) {
                const uint8_t *block = in + ((g * 16 + i) * blocks + b) * bb;
                memcpy(o + 2 * i, block, 2);
                // Register k holds values 4k..4k+3 of every row, offset by 128 (unsigned, for
                // vpdpbusd).
                for (int k = 0; k < 8; k++)
                    for (int j = 0; j < 4; j++) o[32 + 64 * k + 4 * i + j] = block[2 + 4 * k + j] ^ 0x80;
            }
        }
    }
    return 0;
}

void canopy_q8_0_interleaved_block(const void *interleaved, int64_t cols, int64_t r, int64_t b, uint8_t out[34]) {
    const uint8_t *p = (const uint8_t *)interleaved + ((r / 16) * (cols / 32) + b) * CANOPY_Q8_0_GROUP_BLOCK;
    const int i = (int)(r % 16);
    memcpy(out, p + 2 * i, 2);
    for (int k = 0; k < 8; k++)
        for (int j = 0; j < 4; j++) out[2 + 4 * k + j] = p[32 + 64 * k + 4 * i + j] ^ 0x80;
}

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define KERNEL_NAME(name) name##_q8_0_avx2_
#define USE_VNNI 0
#include "gemm_q8_0_x86.inc"
#pragma clang attribute pop
void canopy_gemm_rows_q8_0_avx2(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1) {
    canopy_gemm_rows_q8_0_avx2_(x, job, r0, r1);
}
#endif
