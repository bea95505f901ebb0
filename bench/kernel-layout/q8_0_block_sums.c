// A proposed arithmetic for Q8_0 products, measured against the engine's of the time.
//
// Landed since in the engine (gemm_q8_0.c, gemm_q8_0_x86.inc: the same arithmetic and 16-row
// layout, with AVX2 and row-major kernels beside this one; bench/run-q8_0-gemm-ab.sh compares
// revisions). This program is the record of the measurement that led there
// (bench/results/2026-12-07-1101a43-q8_0-block-sums.md); run on a later revision, its
// "engine" is the engine's row-major Q8_0 kernel, whose results it then equals bit for bit.
//
// The engine's Q8_0 arithmetic (canopy_kernels.h, canopy_gemm) splits each block's integer dot
// into 8 lanes of 4 products and converts, scales and accumulates every lane in float: one
// vpdpbusd, one convert, one multiply and one FMA per 64 products, whatever the layout. That is
// why SmolLM2's tied output matrix (Q8_0, 49152 x 576) costs about 0.25-0.3 ms per extra token
// of a verification window on the 2-core Xeon, the largest share of a window's marginal token
// after the Q4_1 layers.
//
// The proposal is Q4_1's arithmetic without the mins, and llama.cpp's own Q8_0 dot: per block
// b the exact int32 sum of its 32 products; lane b mod 8 of 8 float accumulators adds
// float(sum) * (d_w * d_x) with an FMA; the result is ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)).
// Integer sums are exact in any order, so every layout and instruction set can give the same
// bits. Here 16 rows sit side by side (for rows 16g..16g+15 and block b, 544 bytes: the 16
// f16 scales, then 8 registers of 64 bytes, register k holding bytes 4k..4k+3 of each row,
// offset by 128 to be unsigned), so 8 vpdpbusd give 16 rows' exact block sums (the offset
// taken back as -128 * sum of the block's activations), then one convert, multiply and FMA:
// 12 instructions per 512 products where the engine's takes 32.
//
// The program times canopy_gemm on the matrix and the prototype (2 threads on canopy's pool,
// the two alternated in every round, best of ROUNDS), checks every 97th row of the prototype
// bit for bit against a scalar spelling of the proposed arithmetic (exit 1 on a mismatch), and
// prints the largest relative difference from the engine's current results (rounding only).
//
// Build (AVX-512 VNNI only; the kernels as SwiftPM builds them, the prototype with the
// instruction set enabled): bench/run-q8_0-block-sums-bench.sh, or by hand
//   for f in Sources/CCanopyKernels/*.c; do clang -O3 -ffp-contract=off -ISources/CCanopyKernels/include \
//       -ISources/CCanopyKernels -c $f -o /tmp/k-$(basename $f .c).o; done
//   clang -O3 -ffp-contract=off -mavx512f -mavx512vnni -mavx512bw -mavx512vl -mf16c -mfma \
//       -ISources/CCanopyKernels/include -c bench/kernel-layout/q8_0_block_sums.c -o /tmp/q8.o
//   clang -o /tmp/q8_0_block_sums /tmp/q8.o /tmp/k-*.o -lpthread -lm
// Usage: q8_0_block_sums ROUNDS T1 [T2 ...]
#include "canopy_kernels.h"
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
enum { ROWS = 49152, COLS = 576, BLOCKS = COLS / 32, BB = 34, GB = 32 + 8 * 64 };
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static float h2f(uint16_t h) { _Float16 f; memcpy(&f, &h, 2); return (float)f; }

typedef struct { const uint8_t *il; const canopy_q8_rows *x; const int32_t *corr; float *y; int T; int64_t groups; int tasks; } ctx_t;

static inline __attribute__((always_inline)) void tile(const int T, const ctx_t *c, int64_t g, int t0) {
    const canopy_q8_rows *x = c->x;
    const uint8_t *base = c->il + g * BLOCKS * GB;
    __m512 acc[8][8];
    for (int b = 0; b < BLOCKS; b++) {
        const uint8_t *blk = base + b * GB;
        // The weights stream from L3 (27 MiB): prefetch 16 blocks ahead (the scales' line) and 24.
        _mm_prefetch((const char *)(blk + 16 * GB), _MM_HINT_T0);
        for (int l = 0; l < GB; l += 64) _mm_prefetch((const char *)(blk + 24 * GB + l), _MM_HINT_T0);
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk));
        __m512i w[8];
        for (int k = 0; k < 8; k++) w[k] = _mm512_loadu_si512((const void *)(blk + 32 + 64 * k));
        for (int t = 0; t < T; t++) {
            const int8_t *xq = x->qs + (t0 + t) * COLS + 32 * b;
            __m512i s = _mm512_set1_epi32(c->corr[(t0 + t) * BLOCKS + b]);
            for (int k = 0; k < 8; k++) { int32_t a; memcpy(&a, xq + 4 * k, 4); s = _mm512_dpbusd_epi32(s, w[k], _mm512_set1_epi32(a)); }
            const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(x->d[(t0 + t) * x->padded_blocks + b]));
            const int l = b & 7;
            acc[t][l] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, b < 8 ? _mm512_setzero_ps() : acc[t][l]);
        }
    }
    for (int t = 0; t < T; t++) {
        for (int l = BLOCKS; l < 8; l++) acc[t][l] = _mm512_setzero_ps();
        __m512 v = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][4]), _mm512_add_ps(acc[t][2], acc[t][6])),
                                 _mm512_add_ps(_mm512_add_ps(acc[t][1], acc[t][5]), _mm512_add_ps(acc[t][3], acc[t][7])));
        _mm512_storeu_ps(c->y + (int64_t)(t0 + t) * ROWS + 16 * g, v);
    }
}

__attribute__((target("avx512f,avx512vnni,avx512bw,f16c,fma")))
static void task(void *p, int64_t i) {
    const ctx_t *c = p;
    const int64_t g0 = c->groups * i / c->tasks, g1 = c->groups * (i + 1) / c->tasks;
    for (int64_t g = g0; g < g1; g++) {
        // Token tiles as even as 8 allows (9 tokens: 5 + 4), as the engine's kernels cut them.
        const int tiles = (c->T + 7) / 8;
        for (int k = 0; k < tiles; k++) {
            const int t0 = c->T * k / tiles, n = c->T * (k + 1) / tiles - t0;
            switch (n) { case 1: tile(1, c, g, t0); break; case 2: tile(2, c, g, t0); break; case 3: tile(3, c, g, t0); break;
            case 4: tile(4, c, g, t0); break; case 5: tile(5, c, g, t0); break; case 6: tile(6, c, g, t0); break;
            case 7: tile(7, c, g, t0); break; default: tile(8, c, g, t0); break; }
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s ROUNDS T1 [T2 ...] (T at most 16)\n", argv[0]);
        return 2;
    }
    const int rounds = atoi(argv[1]); int list[16], n = argc - 2 < 16 ? argc - 2 : 16;
    for (int i = 0; i < n; i++) list[i] = atoi(argv[2 + i]) < 1 ? 1 : atoi(argv[2 + i]) > 16 ? 16 : atoi(argv[2 + i]);
    canopy_pool *pool = canopy_pool_create(2);
    size_t mb = (size_t)ROWS * BLOCKS * BB;
    uint8_t *w = aligned_alloc(64, (mb + 63) / 64 * 64);
    srand(1);
    for (size_t i = 0; i < mb; i++) w[i] = (uint8_t)rand();
    for (size_t b = 0; b < mb / BB; b++) { uint16_t d = 0x2000 + (rand() & 0x3ff); memcpy(w + b * BB, &d, 2); }
    // interleave
    uint8_t *il = aligned_alloc(64, (size_t)(ROWS / 16) * BLOCKS * GB);
    for (int64_t g = 0; g < ROWS / 16; g++)
        for (int b = 0; b < BLOCKS; b++) {
            uint8_t *o = il + (g * BLOCKS + b) * GB;
            for (int r = 0; r < 16; r++) {
                const uint8_t *src = w + ((g * 16 + r) * BLOCKS + b) * BB;
                memcpy(o + 2 * r, src, 2);
                for (int k = 0; k < 8; k++) for (int j = 0; j < 4; j++) o[32 + 64 * k + 4 * r + j] = src[2 + 4 * k + j] ^ 0x80;
            }
        }
    float *x = malloc(sizeof(float) * 16 * COLS);
    for (int i = 0; i < 16 * COLS; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    float *y = malloc(sizeof(float) * 16 * ROWS), *y2 = malloc(sizeof(float) * 16 * ROWS);
    int status = 0;
    printf("| tokens | engine (ms) | block sums, 16 rows (ms) | speed-up | scalar mismatches | largest relative difference from the engine |\n");
    printf("|---:|---:|---:|---:|---:|---:|\n");
    for (int li = 0; li < n; li++) { int T = list[li];
        void *s = aligned_alloc(64, (canopy_q8_scratch_bytes(T, COLS) + 63) / 64 * 64);
        canopy_q8_rows q;
        canopy_q8_quantize(pool, x, T, COLS, canopy_weight_lane_offset(CANOPY_WEIGHT_Q8_0), s, &q);
        int32_t *corr = malloc(sizeof(int32_t) * T * BLOCKS);
        for (int t = 0; t < T; t++) for (int b = 0; b < BLOCKS; b++) { int32_t sx = 0; for (int j = 0; j < 32; j++) sx += q.qs[t * COLS + 32 * b + j]; corr[t * BLOCKS + b] = -128 * sx; }
        canopy_gemm_job job = {.type = CANOPY_WEIGHT_Q8_0, .weights = w, .rows = ROWS, .row_bytes = BLOCKS * BB, .y = y, .y_stride = ROWS};
        ctx_t c = {il, &q, corr, y2, T, ROWS / 16, 64};
        double best = 1e9, best2 = 1e9;
        for (int r = 0; r < rounds; r++) {
            double a = now(); canopy_gemm(pool, &q, &job, 1); a = now() - a; if (a < best) best = a;
            a = now(); canopy_pool_run(pool, c.tasks, task, &c); a = now() - a; if (a < best2) best2 = a;
        }
        // check: new canonical in scalar, and closeness to the engine's
        int bad = 0; double maxrel = 0;
        for (int t = 0; t < T; t++) for (int r = 0; r < ROWS; r += 97) {
            float acc[8] = {0};
            for (int b = 0; b < BLOCKS; b++) {
                const uint8_t *src = w + ((int64_t)r * BLOCKS + b) * BB; uint16_t dh; memcpy(&dh, src, 2);
                int32_t sum = 0; for (int j = 0; j < 32; j++) sum += (int8_t)src[2 + j] * q.qs[t * COLS + 32 * b + j];
                acc[b % 8] = fmaf((float)sum, h2f(dh) * q.d[t * q.padded_blocks + b], acc[b % 8]);
            }
            float ref = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
            float got = y2[(int64_t)t * ROWS + r];
            if (memcmp(&ref, &got, 4)) bad++;
            double rel = fabs(got - y[(int64_t)t * ROWS + r]) / (fabs(y[(int64_t)t * ROWS + r]) + 1e-3); if (rel > maxrel) maxrel = rel;
        }
        printf("| %d | %.3f | %.3f | %.2fx | %d | %.1e |\n", T, best * 1e3, best2 * 1e3, best / best2, bad, maxrel);
        fflush(stdout);
        if (bad) status = 1;
        free(corr);
        free(s);
    }
    return status;
}
