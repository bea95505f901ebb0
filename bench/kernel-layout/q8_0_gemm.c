// Times canopy_gemm on SmolLM2's tied output matrix shape (Q8_0, 49152 x 576, random weights
// and activations), 2 threads on canopy's pool, at one instruction-set level: the file's rows,
// and (built with -DHAS_Q8_0_INTERLEAVE, revisions that have canopy_q8_0_interleave) the
// interleaved copy. Built against two revisions' kernels by bench/run-q8_0-gemm-ab.sh, which
// alternates them.
//
// Usage: q8_0_gemm ISA ROUNDS T1 [T2 ...]   (ISA: 1 AVX2, 2 AVX-512 VNNI; T at most 64)
// Prints one line per token count: "T ms-row-major ms-interleaved" (best of ROUNDS; the
// second is - without an interleaved copy).
#include "canopy_kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROWS = 49152, COLS = 576, BLOCKS = COLS / 32, BB = 34, MAX_T = 64 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s ISA ROUNDS T1 [T2 ...]\n", argv[0]);
        return 2;
    }
    canopy_isa_select((canopy_isa)atoi(argv[1]));
    const int rounds = atoi(argv[2]);
    canopy_pool *pool = canopy_pool_create(2);
    const size_t bytes = (size_t)ROWS * BLOCKS * BB, padded = (bytes + 63) / 64 * 64;
    uint8_t *w = aligned_alloc(64, padded);
    srand(1);
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)rand();
    for (size_t b = 0; b < bytes / BB; b++) {
        const uint16_t d = 0x2000 + (rand() & 0x3ff);  // finite, moderate f16 scales
        memcpy(w + b * BB, &d, 2);
    }
    void *interleaved = NULL;
#ifdef HAS_Q8_0_INTERLEAVE
    interleaved = aligned_alloc(64, padded);
    if (canopy_q8_0_interleave(w, ROWS, COLS, interleaved) != 0) return 1;
#endif
    float *x = malloc(sizeof(float) * MAX_T * COLS), *y = malloc(sizeof(float) * MAX_T * ROWS);
    for (int i = 0; i < MAX_T * COLS; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (int a = 3; a < argc; a++) {
        int T = atoi(argv[a]);
        T = T < 1 ? 1 : T > MAX_T ? MAX_T : T;
        void *scratch = aligned_alloc(64, (canopy_q8_scratch_bytes(T, COLS) + 63) / 64 * 64);
        canopy_q8_rows q;
        canopy_q8_quantize(pool, x, T, COLS, canopy_weight_lane_offset(CANOPY_WEIGHT_Q8_0), scratch, &q);
        canopy_gemm_job job = {.type = CANOPY_WEIGHT_Q8_0, .weights = w, .rows = ROWS, .row_bytes = BLOCKS * BB,
                               .y = y, .y_stride = ROWS};
        double rows = 1e9, packed = 1e9;
        for (int r = 0; r < rounds; r++) {
            job.interleaved = NULL;
            double t = now();
            canopy_gemm(pool, &q, &job, 1);
            t = now() - t;
            if (t < rows) rows = t;
            if (!interleaved) continue;
            job.interleaved = interleaved;
            t = now();
            canopy_gemm(pool, &q, &job, 1);
            t = now() - t;
            if (t < packed) packed = t;
        }
        if (interleaved) printf("%d %.3f %.3f\n", T, rows * 1e3, packed * 1e3);
        else printf("%d %.3f -\n", T, rows * 1e3);
        free(scratch);
    }
    return 0;
}
