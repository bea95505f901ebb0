// The two inner loops of paged attention: query·key scores for a chunk of keys, and the
// weighted sum of value rows. Swift keeps the tiling, the online softmax and the merge; these
// loops are where the time goes, and at the baseline x86-64 target Swift's SIMD types compile
// to 128-bit SSE. Each level (AVX-512, AVX2, scalar) uses a fixed summation order, so a row's
// result depends only on its own inputs, never on the batch around it. The levels differ in
// summation order, so these loops always run at the supported level (the CPU's best, or the
// process's CANOPY_MAX_ISA ceiling, both fixed for the process) and ignore canopy_isa_select:
// lowering the level for a test must not change another test's attention.
#include "canopy_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f")))
static float hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }

__attribute__((target("avx512f,avx2,fma")))
static void scores_avx512(const float *q, const float *const *keys, int64_t count, int64_t hd, float *out) {
    for (int64_t j = 0; j < count; j++) {
        const float *k = keys[j];
        __m512 acc = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 16 <= hd; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(k + i), acc);
        float s = hsum512(acc);
        for (; i < hd; i++) s += q[i] * k[i];
        out[j] = s;
    }
}

__attribute__((target("avx512f,avx2,fma")))
static void accumulate_avx512(float *acc, float correction, const float *w, const float *const *rows, int64_t count,
                              int64_t hd) {
    int64_t d = 0;
    for (; d + 16 <= hd; d += 16) {
        __m512 a = _mm512_mul_ps(_mm512_loadu_ps(acc + d), _mm512_set1_ps(correction));
        for (int64_t j = 0; j < count; j++) a = _mm512_fmadd_ps(_mm512_set1_ps(w[j]), _mm512_loadu_ps(rows[j] + d), a);
        _mm512_storeu_ps(acc + d, a);
    }
    for (; d < hd; d++) {
        float a = acc[d] * correction;
        for (int64_t j = 0; j < count; j++) a += w[j] * rows[j][d];
        acc[d] = a;
    }
}

__attribute__((target("avx2,fma")))
static void scores_avx2(const float *q, const float *const *keys, int64_t count, int64_t hd, float *out) {
    for (int64_t j = 0; j < count; j++) {
        const float *k = keys[j];
        __m256 acc = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 8 <= hd; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), acc);
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
        float s = _mm_cvtss_f32(s4);
        for (; i < hd; i++) s += q[i] * k[i];
        out[j] = s;
    }
}

__attribute__((target("avx2,fma")))
static void accumulate_avx2(float *acc, float correction, const float *w, const float *const *rows, int64_t count,
                            int64_t hd) {
    int64_t d = 0;
    for (; d + 8 <= hd; d += 8) {
        __m256 a = _mm256_mul_ps(_mm256_loadu_ps(acc + d), _mm256_set1_ps(correction));
        for (int64_t j = 0; j < count; j++) a = _mm256_fmadd_ps(_mm256_set1_ps(w[j]), _mm256_loadu_ps(rows[j] + d), a);
        _mm256_storeu_ps(acc + d, a);
    }
    for (; d < hd; d++) {
        float a = acc[d] * correction;
        for (int64_t j = 0; j < count; j++) a += w[j] * rows[j][d];
        acc[d] = a;
    }
}
#endif

void canopy_attention_scores(const float *q, const float *const *keys, int64_t count, int64_t hd, float *scores) {
#if defined(__x86_64__)
    switch (canopy_isa_supported()) {
    case CANOPY_ISA_AVX512VNNI: scores_avx512(q, keys, count, hd, scores); return;
    case CANOPY_ISA_AVX2: scores_avx2(q, keys, count, hd, scores); return;
    default: break;
    }
#endif
    for (int64_t j = 0; j < count; j++) {
        float s = 0;
        for (int64_t i = 0; i < hd; i++) s += q[i] * keys[j][i];
        scores[j] = s;
    }
}

void canopy_attention_accumulate(float *acc, float correction, const float *weights, const float *const *rows,
                                 int64_t count, int64_t hd) {
#if defined(__x86_64__)
    switch (canopy_isa_supported()) {
    case CANOPY_ISA_AVX512VNNI: accumulate_avx512(acc, correction, weights, rows, count, hd); return;
    case CANOPY_ISA_AVX2: accumulate_avx2(acc, correction, weights, rows, count, hd); return;
    default: break;
    }
#endif
    for (int64_t d = 0; d < hd; d++) {
        float a = acc[d] * correction;
        for (int64_t j = 0; j < count; j++) a += weights[j] * rows[j][d];
        acc[d] = a;
    }
}
