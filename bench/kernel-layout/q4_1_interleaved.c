// How fast could a Q4_1 x Q8_1 product run on AVX2 with another canonical arithmetic, and
// another weight layout? A measurement for the design, not engine code: it runs canopy_gemm
// (today's kernels, whatever ISA this CPU selects) and a prototype on the same weights and
// activations, rounds interleaved, and prints the best time of each per token count.
//
// Today's arithmetic (gemm.c, `dot_row_scalar`): per row and token, eight float lanes; lane i
// of block b adds float(Σ of 4 products) × (d_w d_x) with an fma, so every block costs each
// row and token a vpmaddubsw, a vpmaddwd, a convert and an fma. On a CPU without VNNI those
// multiplies share the FP pipes, and a step of several tokens is bound by them.
//
// The prototype's arithmetic, which does not depend on the layout: per row, token and block b
// the exact int32 Σ q_w q_x; lane b mod 8 of eight float accumulators adds
// float(sum) × (d_w × d_x) with an fma, lane b mod 8 of eight more adds m_w × s_x with an fma;
// the result is the sum of each eight, ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)), the first plus the
// second. Two kernels compute it, bit for bit:
// - interleaved: eight rows side by side (rows r..r+7 of a block), so one vpmaddubsw of a
//   weight register against a broadcast of 4 activation bytes yields two products for each of
//   eight rows, eight of them add up in int16 without overflow (4-bit weights: |sum| <= 8 x 2
//   x 15 x 127), and one vpmaddwd, one convert and two fmas finish eight rows. Same bytes per
//   row as Q4_1; the weights are repacked once.
// - row-major: today's Q4_1 rows as they are in the file; eight blocks of a row at once, their
//   int16 pair sums reduced by a vphaddw tree into one register of eight block sums, so one
//   convert and two fmas finish eight blocks (for weights that cannot be repacked: streamed
//   layers, column splits).
// Both are checked bit for bit against a scalar spelling of the arithmetic, and against
// canopy_gemm within float rounding (which sums in another order).
//
// Since this measurement the engine computes Q4_1 this way (gemm_q4_1.c): canopy_gemm here,
// given the file's rows, runs that row-major kernel, so the first column no longer shows the
// old arithmetic (addae09 and earlier have it).
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
    const uint8_t *w;  // interleaved groups, or Q4_1 rows for the row-major kernel
    const canopy_q8_rows *x;
    float *y;
} job_t;

/// ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)) of eight vectors, lane by lane.
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline __m256 sum8(const __m256 l[8]) {
    return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(l[0], l[4]), _mm256_add_ps(l[2], l[6])),
                         _mm256_add_ps(_mm256_add_ps(l[1], l[5]), _mm256_add_ps(l[3], l[7])));
}

/// Interleaved: rows 8g..8g+7 for tokens t0..<t0+nt (nt <= TILE).
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
tile(const job_t *j, int64_t g, int64_t t0, int nt) {
    const uint8_t *base = j->w + g * BLOCKS * GROUP_BLOCK_BYTES;
    const int64_t pb = j->x->padded_blocks;
    const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc[TILE][8], mins[TILE][8];  // [token][block mod 8], a lane per row
    for (int t = 0; t < nt; t++)
        for (int l = 0; l < 8; l++) acc[t][l] = mins[t][l] = _mm256_setzero_ps();
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
        const int l = (int)(b & 7);
        for (int t = 0; t < nt; t++) {
            const __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(sum[t], ones));
            const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(j->x->d[(t0 + t) * pb + b]));
            acc[t][l] = _mm256_fmadd_ps(f, scale, acc[t][l]);
            mins[t][l] = _mm256_fmadd_ps(mw, _mm256_set1_ps(j->x->s[(t0 + t) * pb + b]), mins[t][l]);
        }
    }
    for (int t = 0; t < nt; t++)
        _mm256_storeu_ps(j->y + (t0 + t) * ROWS + g * 8, _mm256_add_ps(sum8(acc[t]), sum8(mins[t])));
}

/// Row-major: the 32 values of Q4_1 block `blk` in activation order (value v < 16 the low
/// nibble of byte v, else the high nibble of byte v - 16).
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline __m256i unpack(const uint8_t *blk) {
    const __m128i bytes = _mm_loadu_si128((const __m128i *)(blk + 4)), low = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), low), _mm_and_si128(bytes, low));
}

/// Row-major: rows r0..<r1, tokens t0..<t0+nt (nt <= TILE), eight blocks at a time.
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
rows_tile(const job_t *j, int64_t r0, int64_t r1, int64_t t0, int nt) {
    const int64_t pb = j->x->padded_blocks;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = j->w + r * BLOCKS * Q4_1_BYTES;
        __m256 acc[TILE], mins[TILE];  // lane = block mod 8
        for (int t = 0; t < nt; t++) acc[t] = mins[t] = _mm256_setzero_ps();
        for (int64_t b0 = 0; b0 < BLOCKS; b0 += 8) {
            const int n = BLOCKS - b0 < 8 ? (int)(BLOCKS - b0) : 8;
            __m256i w[8];
            uint16_t dh[8] = {0}, mh[8] = {0};
            for (int k = 0; k < 8; k++) {
                if (k < n) {
                    w[k] = unpack(row + (b0 + k) * Q4_1_BYTES);
                    memcpy(&dh[k], row + (b0 + k) * Q4_1_BYTES, 2);
                    memcpy(&mh[k], row + (b0 + k) * Q4_1_BYTES + 2, 2);
                } else {
                    w[k] = _mm256_setzero_si256();
                }
            }
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dh));
            const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)mh));
            for (int t = 0; t < nt; t++) {
                const int8_t *xq = j->x->qs + (t0 + t) * COLS + 32 * b0;
                __m256i p[8];
                for (int k = 0; k < 8; k++) {
                    p[k] = k < n ? _mm256_maddubs_epi16(w[k], _mm256_loadu_si256((const __m256i *)(xq + 32 * k)))
                                 : _mm256_setzero_si256();
                }
                // Pairwise: each 128-bit half ends with one int16 per block (|x| <= 30480).
                const __m256i h01 = _mm256_hadd_epi16(p[0], p[1]), h23 = _mm256_hadd_epi16(p[2], p[3]);
                const __m256i h45 = _mm256_hadd_epi16(p[4], p[5]), h67 = _mm256_hadd_epi16(p[6], p[7]);
                const __m256i h = _mm256_hadd_epi16(_mm256_hadd_epi16(h01, h23), _mm256_hadd_epi16(h45, h67));
                const __m256i sums = _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(h)),
                                                      _mm256_cvtepi16_epi32(_mm256_extracti128_si256(h, 1)));
                const __m256 xd = _mm256_loadu_ps(j->x->d + (t0 + t) * pb + b0);
                const __m256 xs = _mm256_loadu_ps(j->x->s + (t0 + t) * pb + b0);
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(dw, xd), acc[t]);
                mins[t] = _mm256_fmadd_ps(mw, xs, mins[t]);
            }
        }
        for (int t = 0; t < nt; t++) {
            float a[8], m[8];
            _mm256_storeu_ps(a, acc[t]);
            _mm256_storeu_ps(m, mins[t]);
            j->y[(t0 + t) * ROWS + r] = (((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))) +
                                        (((m[0] + m[4]) + (m[2] + m[6])) + ((m[1] + m[5]) + (m[3] + m[7])));
        }
    }
}

typedef struct {
    const job_t *job;
    int64_t tasks;
    int interleaved;
} plan_t;

/// Task i: a contiguous range of row groups, every token, in tiles as even as TILE allows.
__attribute__((target("avx2,fma,f16c"))) static void task(void *context, int64_t i) {
    const plan_t *p = context;
    const int64_t groups = ROWS / 8, tokens = p->job->x->tokens;
    const int64_t tiles = (tokens + TILE - 1) / TILE;
    for (int64_t g = groups * i / p->tasks; g < groups * (i + 1) / p->tasks; g++)
        for (int64_t k = 0; k < tiles; k++) {
            const int64_t t0 = tokens * k / tiles;
            const int nt = (int)(tokens * (k + 1) / tiles - t0);
#define RUN(n) (p->interleaved ? tile(p->job, g, t0, n) : rows_tile(p->job, 8 * g, 8 * g + 8, t0, n))
            switch (nt) {
            case 1: RUN(1); break;
            case 2: RUN(2); break;
            case 3: RUN(3); break;
            default: RUN(4); break;
            }
#undef RUN
        }
}

/// The arithmetic, spelled out from the file's Q4_1 rows: what both kernels must match bit
/// for bit.
static float reference(const uint8_t *rows, const canopy_q8_rows *x, int64_t r, int64_t t) {
    float acc[8] = {0}, mins[8] = {0};
    for (int64_t b = 0; b < BLOCKS; b++) {
        const uint8_t *blk = rows + (r * BLOCKS + b) * Q4_1_BYTES;
        int32_t sum = 0;
        for (int v = 0; v < 32; v++) {
            const int q = v < 16 ? (blk[4 + v] & 15) : (blk[4 + v - 16] >> 4);
            sum += q * x->qs[t * COLS + 32 * b + v];
        }
        uint16_t d, m;
        memcpy(&d, blk, 2);
        memcpy(&m, blk + 2, 2);
        const float scale = half_to_float(d) * x->d[t * x->padded_blocks + b];
        acc[b % 8] = fmaf((float)sum, scale, acc[b % 8]);
        mins[b % 8] = fmaf(half_to_float(m), x->s[t * x->padded_blocks + b], mins[b % 8]);
    }
    return (((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))) +
           (((mins[0] + mins[4]) + (mins[2] + mins[6])) + ((mins[1] + mins[5]) + (mins[3] + mins[7])));
}

/// Runs every matrix through the prototype kernel (`interleaved` or row-major); seconds.
static double run(canopy_pool *pool, int threads, const uint8_t *weights, size_t matrix_bytes, int matrices,
                  const canopy_q8_rows *x, float *y, int interleaved) {
    const double start = now();
    for (int m = 0; m < matrices; m++) {
        const job_t job = {weights + m * matrix_bytes, x, y};
        const plan_t plan = {&job, threads * 4, interleaved};
        canopy_pool_run(pool, plan.tasks, task, (void *)&plan);
    }
    return now() - start;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s THREADS MATRICES ROUNDS T1 [T2 ...]\n", argv[0]);
        return 2;
    }
    const int threads = atoi(argv[1]), matrices = atoi(argv[2]), rounds = atoi(argv[3]);
    const int counts = argc - 4 < 32 ? argc - 4 : 32;
    int64_t tokens[32], most = 0;
    for (int c = 0; c < counts; c++) {
        tokens[c] = atoll(argv[4 + c]);
        if (tokens[c] > most) most = tokens[c];
    }
    canopy_pool *pool = canopy_pool_create(threads);
    const size_t matrix_bytes = (size_t)ROWS * BLOCKS * Q4_1_BYTES;
    uint8_t *rows = aligned_alloc(64, matrices * matrix_bytes), *packed = aligned_alloc(64, matrices * matrix_bytes);
    srand(1);
    for (size_t i = 0; i < matrices * matrix_bytes; i++) rows[i] = (uint8_t)rand();
    for (size_t b = 0; b < matrices * matrix_bytes / Q4_1_BYTES; b++) {
        const uint16_t d = 0x2000 + (rand() & 0x3ff), m = 0xA000 + (rand() & 0x3ff);  // about 0.008, -0.008
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
    float *y_now = malloc(sizeof(float) * most * ROWS), *y_new = malloc(sizeof(float) * most * ROWS),
          *y_rows = malloc(sizeof(float) * most * ROWS);
    canopy_gemm_job *jobs = calloc(matrices, sizeof *jobs);
    for (int m = 0; m < matrices; m++) {
        jobs[m] = (canopy_gemm_job){.type = CANOPY_WEIGHT_Q4_1, .weights = rows + m * matrix_bytes, .rows = ROWS,
                                    .row_bytes = BLOCKS * Q4_1_BYTES, .y = y_now, .y_stride = ROWS};
    }
    double best_now[32], best_new[32], best_rows[32];
    for (int c = 0; c < counts; c++) best_now[c] = best_new[c] = best_rows[c] = 1e9;
    for (int round = 0; round < rounds; round++)
        for (int c = 0; c < counts; c++) {
            double start = now();
            for (int m = 0; m < matrices; m++) canopy_gemm(pool, &q[c], &jobs[m], 1);
            const double elapsed = now() - start;
            if (elapsed < best_now[c]) best_now[c] = elapsed;
            const double interleaved = run(pool, threads, packed, matrix_bytes, matrices, &q[c], y_new, 1);
            if (interleaved < best_new[c]) best_new[c] = interleaved;
            const double row_major = run(pool, threads, rows, matrix_bytes, matrices, &q[c], y_rows, 0);
            if (row_major < best_rows[c]) best_rows[c] = row_major;
        }
    // Every output now holds the last matrix's product for the last token count.
    const int last = counts - 1;
    long mismatches = 0;
    double worst = 0;
    for (int64_t t = 0; t < tokens[last]; t++)
        for (int64_t r = 0; r < ROWS; r++) {
            const float want = reference(rows + (matrices - 1) * matrix_bytes, &q[last], r, t);
            const int64_t at = t * ROWS + r;
            if (memcmp(&want, &y_new[at], 4) != 0 || memcmp(&want, &y_rows[at], 4) != 0) mismatches++;
            const double relative = fabs(want - y_now[at]) / (fabs(y_now[at]) > 1e-3 ? fabs(y_now[at]) : 1e-3);
            if (relative > worst) worst = relative;
        }
    printf("| tokens | canopy_gemm (ms) | interleaved (ms) | row-major (ms) | interleaved speed-up | row-major speed-up "
           "| canopy_gemm t_n / t_1 | interleaved t_n / t_1 | row-major t_n / t_1 |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int c = 0; c < counts; c++) {
        printf("| %lld | %.3f | %.3f | %.3f | %.2fx | %.2fx | %.2f | %.2f | %.2f |\n", (long long)tokens[c],
               best_now[c] * 1e3, best_new[c] * 1e3, best_rows[c] * 1e3, best_now[c] / best_new[c],
               best_now[c] / best_rows[c], best_now[c] / best_now[0], best_new[c] / best_new[0],
               best_rows[c] / best_rows[0]);
    }
    printf("\ncheck (last matrix, %lld tokens): %ld of %lld outputs of the two prototype kernels differ from the "
           "scalar spelling of their arithmetic; largest relative difference from canopy_gemm %.2g\n",
           (long long)tokens[last], mismatches, (long long)tokens[last] * ROWS, worst);
    return mismatches == 0 ? 0 : 1;
}
