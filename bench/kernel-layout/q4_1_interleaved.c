// How fast could a Q4_1 x Q8_1 product run on AVX2 with another weight layout and another
// canonical arithmetic? A measurement for the design, not engine code: it runs canopy_gemm
// (today's kernels, whatever ISA this CPU selects) and a prototype on the same weights and
// activations, rounds interleaved, and prints the best time of each per token count.
//
// Today's arithmetic (gemm.c, `dot_row_scalar`): per row and token, eight float lanes; lane i
// of block b adds float(Σ of 4 products) × (d_w d_x) with an fma, so every block costs each
// row and token a vpmaddubsw, a vpmaddwd, a convert and an fma. On a CPU without VNNI those
// multiplies share the FP pipes, and a step of several tokens is bound by them.
//
// The prototype's arithmetic: per row, token and block the exact int32 Σ q_w q_x, then
// acc = fma(float(sum), d_w × d_x, acc) and acc = fma(m_w, s_x, acc), block after block.
// Eight rows are interleaved (rows r..r+7 of a block side by side), so one vpmaddubsw of a
// weight register against a broadcast of 4 activation bytes yields two products per row,
// eight of them add up in int16 without overflow (4-bit weights: |sum| <= 8 x 2 x 15 x 127),
// and one vpmaddwd, one convert and two fmas finish eight rows. Same bytes per row as Q4_1.
// It is checked bit for bit against a scalar spelling of that arithmetic, and against
// canopy_gemm within float rounding (the two sum in different orders).
//
// Usage: q4_1_interleaved THREADS MATRICES ROUNDS T1 [T2 ...]
//   (the speculative bench's shape: 140 matrices of 1536 x 576, about one SmolLM2 step)
#include "canopy_kernels.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROWS = 1536, COLS = 576, BLOCKS = COLS / 32, Q4_1_BYTES = 20, GROUP_BLOCK_BYTES = 160, TILE = 4 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float half_to_float(uint16_t h) {
    _Float16 f;
    memcpy(&f, &h, 2);
    return (float)f;
}

/// Rows r..r+7 of one Q4_1 matrix, block by block: f16 d[8], f16 m[8], then 4 registers of 32
/// bytes; register j holds chunk j in its low nibbles and chunk j + 4 in its high nibbles, chunk
/// k being values 4k..4k+3 of each row (row i at bytes 4i..4i+3).
static void repack(const uint8_t *rows, uint8_t *out) {
    for (int64_t g = 0; g < ROWS / 8; g++)
        for (int64_t b = 0; b < BLOCKS; b++) {
            uint8_t *o = out + (g * BLOCKS + b) * GROUP_BLOCK_BYTES;
            memset(o, 0, GROUP_BLOCK_BYTES);
            for (int i = 0; i < 8; i++) {
                const uint8_t *blk = rows + ((g * 8 + i) * BLOCKS + b) * Q4_1_BYTES;
                memcpy(o + 2 * i, blk, 2);
                memcpy(o + 16 + 2 * i, blk + 2, 2);
                for (int v = 0; v < 32; v++) {
                    // ggml's Q4_1: value v < 16 is the low nibble of byte v, else the high of v - 16.
                    const int q = v < 16 ? (blk[4 + v] & 15) : (blk[4 + v - 16] >> 4);
                    const int k = v / 4, e = v % 4;
                    o[32 + 32 * (k % 4) + 4 * i + e] |= (uint8_t)(k < 4 ? q : q << 4);
                }
            }
        }
}

typedef struct {
    const uint8_t *w;
    const canopy_q8_rows *x;
    float *y;
} job_t;

/// Rows 8g..8g+7 for tokens t0..<t0+nt (nt <= TILE).
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
tile(const job_t *j, int64_t g, int64_t t0, int nt) {
    const uint8_t *base = j->w + g * BLOCKS * GROUP_BLOCK_BYTES;
    const int64_t pb = j->x->padded_blocks;
    const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc[TILE];
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < BLOCKS; b++) {
        const uint8_t *blk = base + b * GROUP_BLOCK_BYTES;
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
        const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16)));
        __m256i sum[TILE];
        for (int t = 0; t < nt; t++) sum[t] = _mm256_setzero_si256();
        for (int r = 0; r < 4; r++) {
            const __m256i packed = _mm256_loadu_si256((const __m256i *)(blk + 32 + 32 * r));
            const __m256i lo = _mm256_and_si256(packed, low);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
            for (int t = 0; t < nt; t++) {
                int32_t a, c;
                memcpy(&a, j->x->qs + (t0 + t) * COLS + 32 * b + 4 * r, 4);
                memcpy(&c, j->x->qs + (t0 + t) * COLS + 32 * b + 4 * r + 16, 4);
                sum[t] = _mm256_add_epi16(sum[t], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(a)));
                sum[t] = _mm256_add_epi16(sum[t], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(c)));
            }
        }
        for (int t = 0; t < nt; t++) {
            const __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(sum[t], ones));
            const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(j->x->d[(t0 + t) * pb + b]));
            acc[t] = _mm256_fmadd_ps(f, scale, acc[t]);
            acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(j->x->s[(t0 + t) * pb + b]), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) _mm256_storeu_ps(j->y + (t0 + t) * ROWS + g * 8, acc[t]);
}

typedef struct {
    const job_t *job;
    int64_t tasks;
} plan_t;

/// Task i: a contiguous range of row groups, every token, in tiles as even as TILE allows.
__attribute__((target("avx2,fma,f16c"))) static void task(void *context, int64_t i) {
    const plan_t *p = context;
    const int64_t groups = ROWS / 8, tokens = p->job->x->tokens;
    const int64_t tiles = (tokens + TILE - 1) / TILE;
    for (int64_t g = groups * i / p->tasks; g < groups * (i + 1) / p->tasks; g++)
        for (int64_t k = 0; k < tiles; k++) {
            const int64_t t0 = tokens * k / tiles, nt = tokens * (k + 1) / tiles - t0;
            switch (nt) {
            case 1: tile(p->job, g, t0, 1); break;
            case 2: tile(p->job, g, t0, 2); break;
            case 3: tile(p->job, g, t0, 3); break;
            default: tile(p->job, g, t0, 4); break;
            }
        }
}

/// The prototype's arithmetic, spelled out: what `tile` must match bit for bit.
static float reference(const uint8_t *packed, const canopy_q8_rows *x, int64_t r, int64_t t) {
    const int64_t g = r / 8, i = r % 8;
    float acc = 0;
    for (int64_t b = 0; b < BLOCKS; b++) {
        const uint8_t *blk = packed + (g * BLOCKS + b) * GROUP_BLOCK_BYTES;
        int32_t sum = 0;
        for (int v = 0; v < 32; v++) {
            const int k = v / 4, e = v % 4;
            const uint8_t byte = blk[32 + 32 * (k % 4) + 4 * i + e];
            sum += (k < 4 ? byte & 15 : byte >> 4) * x->qs[t * COLS + 32 * b + v];
        }
        uint16_t d, m;
        memcpy(&d, blk + 2 * i, 2);
        memcpy(&m, blk + 16 + 2 * i, 2);
        const float scale = half_to_float(d) * x->d[t * x->padded_blocks + b];
        acc = fmaf((float)sum, scale, acc);
        acc = fmaf(half_to_float(m), x->s[t * x->padded_blocks + b], acc);
    }
    return acc;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s THREADS MATRICES ROUNDS T1 [T2 ...]\n", argv[0]);
        return 2;
    }
    const int threads = atoi(argv[1]), matrices = atoi(argv[2]), rounds = atoi(argv[3]);
    const int counts = argc - 4;
    int64_t tokens[32], most = 0;
    for (int c = 0; c < counts && c < 32; c++) {
        tokens[c] = atoll(argv[4 + c]);
        if (tokens[c] > most) most = tokens[c];
    }
    canopy_pool *pool = canopy_pool_create(threads);
    const size_t matrix_bytes = (size_t)ROWS * BLOCKS * Q4_1_BYTES;
    uint8_t *rows = aligned_alloc(64, matrices * matrix_bytes), *packed = aligned_alloc(64, matrices * matrix_bytes);
    srand(1);
    for (size_t i = 0; i < matrices * matrix_bytes; i++) rows[i] = (uint8_t)rand();
    for (size_t b = 0; b < matrices * matrix_bytes / Q4_1_BYTES; b++) {
        const uint16_t d = 0x2000 + (rand() & 0x3ff), m = 0xA000 + (rand() & 0x3ff);  // 2^-7..., -2^-7...
        memcpy(rows + b * Q4_1_BYTES, &d, 2);
        memcpy(rows + b * Q4_1_BYTES + 2, &m, 2);
    }
    for (int m = 0; m < matrices; m++) repack(rows + m * matrix_bytes, packed + m * matrix_bytes);
    float *x = malloc(sizeof(float) * most * COLS);
    for (int64_t i = 0; i < most * COLS; i++) x[i] = (float)((double)rand() / RAND_MAX - 0.5);
    canopy_q8_rows q[32];
    for (int c = 0; c < counts; c++) {
        void *scratch = aligned_alloc(64, (canopy_q8_scratch_bytes(tokens[c], COLS) + 63) / 64 * 64);
        canopy_q8_quantize(pool, x, tokens[c], COLS, canopy_weight_lane_offset(CANOPY_WEIGHT_Q4_1), scratch, &q[c]);
    }
    float *y_now = malloc(sizeof(float) * most * ROWS), *y_new = malloc(sizeof(float) * most * ROWS);
    canopy_gemm_job *jobs = calloc(matrices, sizeof *jobs);
    for (int m = 0; m < matrices; m++) {
        jobs[m] = (canopy_gemm_job){.type = CANOPY_WEIGHT_Q4_1, .weights = rows + m * matrix_bytes, .rows = ROWS,
                                    .row_bytes = BLOCKS * Q4_1_BYTES, .y = y_now, .y_stride = ROWS};
    }
    double best_now[32], best_new[32];
    for (int c = 0; c < counts; c++) best_now[c] = best_new[c] = 1e9;
    for (int round = 0; round < rounds; round++)
        for (int c = 0; c < counts; c++) {
            double start = now();
            for (int m = 0; m < matrices; m++) canopy_gemm(pool, &q[c], &jobs[m], 1);
            double elapsed = now() - start;
            if (elapsed < best_now[c]) best_now[c] = elapsed;
            start = now();
            for (int m = 0; m < matrices; m++) {
                const job_t job = {packed + m * matrix_bytes, &q[c], y_new};
                const plan_t plan = {&job, threads * 4};
                canopy_pool_run(pool, plan.tasks, task, (void *)&plan);
            }
            elapsed = now() - start;
            if (elapsed < best_new[c]) best_new[c] = elapsed;
        }
    // Both outputs now hold the last matrix's product for the last token count.
    const int last = counts - 1;
    long mismatches = 0;
    double worst = 0;
    for (int64_t t = 0; t < tokens[last]; t++)
        for (int64_t r = 0; r < ROWS; r++) {
            const float want = reference(packed + (matrices - 1) * matrix_bytes, &q[last], r, t);
            const float got = y_new[t * ROWS + r], old = y_now[t * ROWS + r];
            if (memcmp(&want, &got, 4) != 0) mismatches++;
            const double relative = fabs(got - old) / (fabs(old) > 1e-3 ? fabs(old) : 1e-3);
            if (relative > worst) worst = relative;
        }
    printf("| tokens | canopy_gemm (ms) | interleaved (ms) | speed-up | canopy_gemm t_n / t_1 | interleaved t_n / t_1 |\n");
    printf("|---:|---:|---:|---:|---:|---:|\n");
    for (int c = 0; c < counts; c++) {
        printf("| %lld | %.3f | %.3f | %.2fx | %.2f | %.2f |\n", (long long)tokens[c], best_now[c] * 1e3,
               best_new[c] * 1e3, best_now[c] / best_new[c], best_now[c] / best_now[0], best_new[c] / best_new[0]);
    }
    printf("\ncheck (last matrix, %lld tokens): %ld of %lld outputs differ from the scalar spelling of the "
           "prototype's arithmetic; largest relative difference from canopy_gemm %.2g\n",
           (long long)tokens[last], mismatches, (long long)tokens[last] * ROWS, worst);
    return mismatches == 0 ? 0 : 1;
}
