// K-quant weights (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K; 256-value super-blocks) times Q8_K
// activations, with ggml's integer formulas.
//
// Each weight super-block is first unpacked to one canonical form — 256 unsigned bytes
// u = q + offset, sixteen int16 scales and mins (one per 16 values), and the f16 d / dmin —
// once per row and call, then reused by every token. Per super-block and token:
//   isum = Σ_g sc[g] · (Σ_{i∈g} u_i x_i − offset · bsum_g)      (exact int32)
//   msum = Σ_g mn[g] · bsum_g                                   (exact int32)
//   row += (d_x · d) · isum − (d_x · dmin) · msum               (float, in this order)
// The integer sums are exact whatever the instruction set, and every level runs the same
// float operations in the same order, so scalar (here, the reference), AVX2
// (kquants_avx2.c) and AVX-512 VNNI (kquants_avx512.c) give the same bits.
#include "kquants_internal.h"

#include <string.h>

/// isum and msum of one unpacked block with one Q8_K block (d f32, 256 int8, 16 int16 bsums).
static void block_sums_scalar(const kblock *k, const uint8_t *xb, int32_t offset, int32_t *isum, int32_t *msum) {
    const int8_t *x = (const int8_t *)(xb + 4);
    int32_t is = 0, ms = 0;
    for (int g = 0; g < 16; g++) {
        int16_t bsum;
        memcpy(&bsum, xb + 260 + 2 * g, 2);
        int32_t s = 0;
        for (int i = 16 * g; i < 16 * g + 16; i++) s += k->u[i] * x[i];
        is += k->sc[g] * (s - offset * bsum);
        ms += k->mn[g] * bsum;
    }
    *isum = is;
    *msum = ms;
}

/// The x86 paths' activation sides (see kq_xside); plain C, shared by both.
void canopy_kquant_build_side(const kquant_plan *p, int64_t tiles, kq_xside *side) {
    const int64_t blocks = p->blocks;
    for (int64_t k = 0; k < tiles; k++) {
        for (int64_t b = 0; b < blocks; b++) {
            kq_xside *sd = &side[k * blocks + b];
            memset(sd, 0, sizeof *sd);
            for (int t = 0; t < kq_tile && k * kq_tile + t < p->tokens; t++) {
                const uint8_t *xb = p->x + ((k * kq_tile + t) * blocks + b) * kq_q8k_bytes;
                memcpy(&sd->dx[t], xb, 4);
                for (int q = 0; q < 8; q++) memcpy(&sd->bs[q][t], xb + 260 + 4 * q, 4);
            }
        }
    }
}

static void kquant_task(void *context, int64_t task) {
    const kquant_plan *p = context;
    const int64_t r0 = p->rows * task / p->tasks, r1 = p->rows * (task + 1) / p->tasks;
#if defined(__x86_64__)
    if (p->simd >= CANOPY_ISA_AVX512VNNI) {
        canopy_kquant_rows_avx512(p, r0, r1);
        return;
    }
    if (p->simd == CANOPY_ISA_AVX2) {
        canopy_kquant_rows_avx2(p, r0, r1);
        return;
    }
#endif
    kblock *unpacked = canopy_thread_scratch((size_t)p->blocks * sizeof(kblock));
    if (!unpacked) return;  // counted; the pass fails
    const int64_t bb = kblock_bytes(p->type);
    const int32_t offset = kblock_offset(p->type);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = p->weights + r * p->row_bytes;
        for (int64_t b = 0; b < p->blocks; b++) unpack_kblock(p->type, row + b * bb, &unpacked[b]);
        for (int64_t t = 0; t < p->tokens; t++) {
            const uint8_t *xr = p->x + t * p->blocks * 292;
            float sum = 0;
            for (int64_t b = 0; b < p->blocks; b++) {
                const uint8_t *xb = xr + 292 * b;
                int32_t isum, msum;
                block_sums_scalar(&unpacked[b], xb, offset, &isum, &msum);
                float dx;
                memcpy(&dx, xb, 4);
                sum += (dx * unpacked[b].d) * (float)isum - (dx * unpacked[b].dmin) * (float)msum;
            }
            p->y[t * p->y_stride + r] = sum;
        }
    }
}

void canopy_gemm_kquant(canopy_pool *pool, canopy_weight_type type, const void *weights, int64_t rows,
                        int64_t row_bytes, const void *x_q8k, int64_t tokens, int64_t cols, float *y,
                        int64_t y_stride) {
    if (rows <= 0 || tokens <= 0 || kblock_bytes(type) == 0) return;
    kquant_plan plan = {type, weights, rows, row_bytes, tokens, cols / 256, x_q8k, y, y_stride, 1, 0};
#if defined(__x86_64__)
    plan.simd = (int)canopy_isa_active();
#endif
    const int threads = canopy_pool_threads(pool);
    if (threads > 1 && rows * cols * tokens >= (1 << 16)) plan.tasks = rows < threads * 4 ? rows : threads * 4;
    canopy_pool_run(pool, plan.tasks, kquant_task, &plan);
}
