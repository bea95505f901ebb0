// Q4_1 products through canopy_gemm: the file's rows against the interleaved copy
// (canopy_q4_1_interleave), same weights and activations, rounds interleaved, best time of
// each per token count. Both paths compute Q4_1's canonical arithmetic (canopy_kernels.h,
// gemm_q4_1.c), checked here bit for bit against a scalar spelling of it written for this
// program.
//
// History: this file first held the prototype of that arithmetic and of both kernels, measured
// against the old 8-lane arithmetic (bench/results/2026-12-06-69f4d75-kernel-layout.md,
// ...-de39f85-kernel-layout.md: interleaved 1.48x the old kernel at 1 token, 2.0-2.3x at 2-32).
// The engine has the kernels since ab33b8c; the program now measures the engine's.
//
// Usage: q4_1_interleaved THREADS MATRICES ROUNDS T1 [T2 ...]
//   (the speculative bench's shape: 140 matrices of 1536 x 576, about one SmolLM2 step)
#include "canopy_kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROWS = 1536, COLS = 576, BLOCKS = COLS / 32, Q4_1_BYTES = 20 };

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

/// The arithmetic, spelled out from the file's Q4_1 rows: what both paths must match bit
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


/// One canopy_gemm call per matrix (as the engine's products of one step); seconds.
static double run(canopy_pool *pool, const canopy_q8_rows *x, const canopy_gemm_job *jobs, int matrices) {
    const double start = now();
    for (int m = 0; m < matrices; m++) canopy_gemm(pool, x, &jobs[m], 1);
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
    for (int m = 0; m < matrices; m++) {
        if (canopy_q4_1_interleave(rows + m * matrix_bytes, ROWS, COLS, packed + m * matrix_bytes) != 0) return 2;
    }
    float *x = malloc(sizeof(float) * most * COLS);
    for (int64_t i = 0; i < most * COLS; i++) x[i] = (float)((double)rand() / RAND_MAX - 0.5);
    canopy_q8_rows q[32];
    for (int c = 0; c < counts; c++) {
        void *scratch = aligned_alloc(64, (canopy_q8_scratch_bytes(tokens[c], COLS) + 63) / 64 * 64);
        canopy_q8_quantize(pool, x, tokens[c], COLS, canopy_weight_lane_offset(CANOPY_WEIGHT_Q4_1), scratch, &q[c]);
    }
    float *y_rows = malloc(sizeof(float) * most * ROWS), *y_packed = malloc(sizeof(float) * most * ROWS);
    canopy_gemm_job *row_jobs = calloc(matrices, sizeof *row_jobs), *packed_jobs = calloc(matrices, sizeof *packed_jobs);
    for (int m = 0; m < matrices; m++) {
        row_jobs[m] = (canopy_gemm_job){.type = CANOPY_WEIGHT_Q4_1, .weights = rows + m * matrix_bytes, .rows = ROWS,
                                        .row_bytes = BLOCKS * Q4_1_BYTES, .y = y_rows, .y_stride = ROWS};
        packed_jobs[m] = row_jobs[m];
        packed_jobs[m].y = y_packed;
        packed_jobs[m].interleaved = packed + m * matrix_bytes;
    }
    double best_rows[32], best_packed[32];
    for (int c = 0; c < counts; c++) best_rows[c] = best_packed[c] = 1e9;
    for (int round = 0; round < rounds; round++)
        for (int c = 0; c < counts; c++) {
            const double a = run(pool, &q[c], row_jobs, matrices);
            if (a < best_rows[c]) best_rows[c] = a;
            const double b = run(pool, &q[c], packed_jobs, matrices);
            if (b < best_packed[c]) best_packed[c] = b;
        }
    // Every output now holds the last matrix's product for the last token count.
    const int last = counts - 1;
    long mismatches = 0;
    for (int64_t t = 0; t < tokens[last]; t++)
        for (int64_t r = 0; r < ROWS; r++) {
            const float want = reference(rows + (matrices - 1) * matrix_bytes, &q[last], r, t);
            const int64_t at = t * ROWS + r;
            if (memcmp(&want, &y_rows[at], 4) != 0 || memcmp(&want, &y_packed[at], 4) != 0) mismatches++;
        }
    printf("kernel level: %s\n\n", canopy_isa_name(canopy_isa_active()));
    printf("| tokens | row-major (ms) | interleaved (ms) | interleaved speed-up | row-major t_n / t_1 | interleaved t_n / t_1 |\n");
    printf("|---:|---:|---:|---:|---:|---:|\n");
    for (int c = 0; c < counts; c++) {
        printf("| %lld | %.3f | %.3f | %.2fx | %.2f | %.2f |\n", (long long)tokens[c], best_rows[c] * 1e3,
               best_packed[c] * 1e3, best_rows[c] / best_packed[c], best_rows[c] / best_rows[0],
               best_packed[c] / best_packed[0]);
    }
    printf("\ncheck (last matrix, %lld tokens): %ld of %lld outputs of canopy_gemm (row-major or interleaved) differ "
           "from the scalar spelling of Q4_1's arithmetic\n",
           (long long)tokens[last], mismatches, (long long)tokens[last] * ROWS);
    return mismatches == 0 ? 0 : 1;
}
