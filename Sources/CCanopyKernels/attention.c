// The two inner loops of paged attention: query·key scores for a chunk of keys, and the
// weighted sum of value rows. Swift keeps the tiling, the online softmax and the merge; these
// loops are where the time goes, and at the baseline x86-64 target Swift's SIMD types compile
// to 128-bit SSE. Each level uses a fixed summation order, so a row's result depends only on
// its own inputs, never on the batch around it.
//
// AVX-512 computes the same bits as AVX2: every lane runs the AVX2 loop's fused
// multiply-adds in the same order (the scores put two keys' 8-lane accumulators in one
// 512-bit register and reduce each half with the AVX2 loop's tree), so an AVX-512 machine's
// tokens are an AVX2 machine's. Summing 16 lanes instead moved a perplexity by 1.6 % and Gemma
// 3's greedy runs at near ties (see Tests/Fixtures/perplexity/README.md). The scalar loops sum
// in another order; so these loops run at the supported level (the CPU's best, or the
// process's CANOPY_MAX_ISA ceiling, both fixed for the process) and ignore canopy_isa_select:
// lowering the level for a test must not change another test's attention.
//
// Rows are f32 or f16 (`canopy_kv_row`): f16 rows are widened in registers as they are
// loaded, which is exact, so a dot product over f16 rows equals the one over their f32
// copies bit for bit; the caller saves decoding each chunk into a buffer first.
#include "canopy_kernels.h"
#include "half.h"
#include "vector_exp.h"

// Element i of a row of type `half` (0: f32, 1: f16), exactly as f32.
static inline float row_at(const void *row, int64_t i, int half) {
    return half ? canopy_half_to_float(((const uint16_t *)row)[i]) : ((const float *)row)[i];
}

#if defined(__x86_64__)
#include <immintrin.h>

// Elements i..<i+8 of a row as f32 (F16C widening is exact, as row_at).
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline __m256 row8(const void *row, int64_t i, int half) {
    return half ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)))
                : _mm256_loadu_ps((const float *)row + i);
}

__attribute__((target("avx512f,avx2,fma,f16c"), always_inline))
static inline __m512 row16(const void *row, int64_t i, int half) {
    return half ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + i)))
                : _mm512_loadu_ps((const float *)row + i);
}

// The AVX2 loop's reduction of 8 lanes: (lo + hi) halves, then pairs, then the last two.
__attribute__((target("avx2,fma")))
static inline float hsum256(__m256 acc) {
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
    return _mm_cvtss_f32(s4);
}

__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void scores_avx2(const float *q, const void *const *keys, int half, int64_t count, int64_t hd,
                               float *out) {
    for (int64_t j = 0; j < count; j++) {
        const void *k = keys[j];
        __m256 acc = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 8 <= hd; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), row8(k, i, half), acc);
        float s = hsum256(acc);
        for (; i < hd; i++) s += q[i] * row_at(k, i, half);
        out[j] = s;
    }
}

// One pass of the value sums over values d..<d + 8P for G accumulators: each value's chain is
// a = acc · correction, then a = fma(w_j, row_j, a) in order of j, as in the one-vector loop.
// Its P · G chains are independent, so the FMAs overlap instead of waiting on each other's
// latency (one block of 8 values at a time left a decode step's value sums latency-bound),
// and each f16 row block is widened once for the G accumulators.
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void accumulate_pass_avx2(const int G, const int P, float *acc, int64_t acc_stride,
                                        const float *corrections, const float *w, int64_t w_stride,
                                        const void *const *rows, int half, int64_t count, int64_t d) {
    __m256 a[4][8];
    for (int g = 0; g < G; g++)
        for (int p = 0; p < P; p++)
            a[g][p] = _mm256_mul_ps(_mm256_loadu_ps(acc + g * acc_stride + d + 8 * p), _mm256_set1_ps(corrections[g]));
    for (int64_t j = 0; j < count; j++) {
        __m256 weight[4];
        for (int g = 0; g < G; g++) weight[g] = _mm256_set1_ps(w[g * w_stride + j]);
        for (int p = 0; p < P; p++) {
            const __m256 r = row8(rows[j], d + 8 * p, half);
            for (int g = 0; g < G; g++) a[g][p] = _mm256_fmadd_ps(weight[g], r, a[g][p]);
        }
    }
    for (int g = 0; g < G; g++)
        for (int p = 0; p < P; p++) _mm256_storeu_ps(acc + g * acc_stride + d + 8 * p, a[g][p]);
}

// The value sums of G ≤ 4 accumulators over the same rows: passes of as many 8-value blocks
// as AVX2's 16 registers hold beside the row and the G weights, then single blocks, then
// the scalar tail (a row length that is not a multiple of 8: no model has one).
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void accumulate_group_avx2(const int G, float *acc, int64_t acc_stride, const float *corrections,
                                         const float *w, int64_t w_stride, const void *const *rows, int half,
                                         int64_t count, int64_t hd) {
    const int P = G == 1 ? 8 : G == 2 ? 4 : G == 3 ? 4 : 2;
    int64_t d = 0;
    for (; d + 8 * P <= hd; d += 8 * P) accumulate_pass_avx2(G, P, acc, acc_stride, corrections, w, w_stride, rows, half, count, d);
    for (; d + 8 <= hd; d += 8) accumulate_pass_avx2(G, 1, acc, acc_stride, corrections, w, w_stride, rows, half, count, d);
    for (int g = 0; g < G; g++) {
        for (int64_t e = d; e < hd; e++) {
            float a = acc[g * acc_stride + e] * corrections[g];
            for (int64_t j = 0; j < count; j++) a += w[g * w_stride + j] * row_at(rows[j], e, half);
            acc[g * acc_stride + e] = a;
        }
    }
}

__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void accumulate_avx2(float *acc, float correction, const float *w, const void *const *rows, int half,
                                   int64_t count, int64_t hd) {
    accumulate_group_avx2(1, acc, 0, &correction, w, 0, rows, half, count, hd);
}

// Scores of G ≤ 4 query vectors against K keys at a time: each (key, query) pair is the
// one-query loop's chain and reduction (`scores_avx2`); the K · G chains overlap, and each
// f16 key block is widened once for the G queries. Keys left over, and row lengths that are
// not a multiple of 8, take the one-query loop.
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void scores_group_avx2(const int G, const float *q, int64_t q_stride, const void *const *keys, int half,
                                     int64_t count, int64_t hd, float *out, int64_t out_stride) {
    enum { K = 2 };
    int64_t j = 0;
    if (hd % 8 == 0) {
        for (; j + K <= count; j += K) {
            __m256 acc[K][4];
            for (int k = 0; k < K; k++)
                for (int g = 0; g < G; g++) acc[k][g] = _mm256_setzero_ps();
            for (int64_t i = 0; i < hd; i += 8) {
                __m256 kk[K];
                for (int k = 0; k < K; k++) kk[k] = row8(keys[j + k], i, half);
                for (int g = 0; g < G; g++) {
                    const __m256 q8 = _mm256_loadu_ps(q + g * q_stride + i);
                    for (int k = 0; k < K; k++) acc[k][g] = _mm256_fmadd_ps(q8, kk[k], acc[k][g]);
                }
            }
            for (int g = 0; g < G; g++)
                for (int k = 0; k < K; k++) out[g * out_stride + j + k] = hsum256(acc[k][g]);
        }
    }
    if (j < count) {
        for (int g = 0; g < G; g++) scores_avx2(q + g * q_stride, keys + j, half, count - j, hd, out + g * out_stride + j);
    }
}

__attribute__((target("avx512f,avx2,fma")))
static __m512 join256(__m256 lo, __m256 hi) {
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
}

// Two keys per 512-bit register: the low half is key j's AVX2 accumulator, the high half key
// j + 1's; each half then takes the AVX2 reduction (hsum256). A row length that is not a
// multiple of 8 (no model has one) takes the AVX2 loop, tail and all.
__attribute__((target("avx512f,avx2,fma,f16c"), always_inline))
static inline void scores_avx512(const float *q, const void *const *keys, int half, int64_t count, int64_t hd,
                                 float *out) {
    int64_t j = 0;
    if (hd % 8 == 0) {
        for (; j + 2 <= count; j += 2) {
            const void *k0 = keys[j], *k1 = keys[j + 1];
            __m512 acc = _mm512_setzero_ps();
            for (int64_t i = 0; i < hd; i += 8) {
                const __m256 q8 = _mm256_loadu_ps(q + i);
                acc = _mm512_fmadd_ps(join256(q8, q8), join256(row8(k0, i, half), row8(k1, i, half)), acc);
            }
            out[j] = hsum256(_mm512_castps512_ps256(acc));
            out[j + 1] = hsum256(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
        }
    }
    if (j < count) scores_avx2(q, keys + j, half, count - j, hd, out + j);
}

// Each output value is one lane, as in the AVX2 loop: the same operations, 16 at a time. A
// row length that is not a multiple of 16 takes the AVX2 loop.
__attribute__((target("avx512f,avx2,fma,f16c"), always_inline))
static inline void accumulate_avx512(float *acc, float correction, const float *w, const void *const *rows, int half,
                                     int64_t count, int64_t hd) {
    if (hd % 16 != 0) {
        accumulate_avx2(acc, correction, w, rows, half, count, hd);
        return;
    }
    for (int64_t d = 0; d < hd; d += 16) {
        __m512 a = _mm512_mul_ps(_mm512_loadu_ps(acc + d), _mm512_set1_ps(correction));
        for (int64_t j = 0; j < count; j++) a = _mm512_fmadd_ps(_mm512_set1_ps(w[j]), row16(rows[j], d, half), a);
        _mm512_storeu_ps(acc + d, a);
    }
}

// One copy of each loop per row type, so the type test is resolved at compile time.
__attribute__((target("avx2,fma,f16c")))
static void scores_avx2_f32(const float *q, const void *const *k, int64_t n, int64_t hd, float *out) {
    scores_avx2(q, k, 0, n, hd, out);
}
__attribute__((target("avx2,fma,f16c")))
static void scores_avx2_f16(const float *q, const void *const *k, int64_t n, int64_t hd, float *out) {
    scores_avx2(q, k, 1, n, hd, out);
}
__attribute__((target("avx512f,avx2,fma,f16c")))
static void scores_avx512_f32(const float *q, const void *const *k, int64_t n, int64_t hd, float *out) {
    scores_avx512(q, k, 0, n, hd, out);
}
__attribute__((target("avx512f,avx2,fma,f16c")))
static void scores_avx512_f16(const float *q, const void *const *k, int64_t n, int64_t hd, float *out) {
    scores_avx512(q, k, 1, n, hd, out);
}
__attribute__((target("avx2,fma,f16c")))
static void accumulate_avx2_f32(float *a, float c, const float *w, const void *const *r, int64_t n, int64_t hd) {
    accumulate_avx2(a, c, w, r, 0, n, hd);
}
__attribute__((target("avx2,fma,f16c")))
static void accumulate_avx2_f16(float *a, float c, const float *w, const void *const *r, int64_t n, int64_t hd) {
    accumulate_avx2(a, c, w, r, 1, n, hd);
}
__attribute__((target("avx512f,avx2,fma,f16c")))
static void accumulate_avx512_f32(float *a, float c, const float *w, const void *const *r, int64_t n, int64_t hd) {
    accumulate_avx512(a, c, w, r, 0, n, hd);
}
__attribute__((target("avx512f,avx2,fma,f16c")))
static void accumulate_avx512_f16(float *a, float c, const float *w, const void *const *r, int64_t n, int64_t hd) {
    accumulate_avx512(a, c, w, r, 1, n, hd);
}

// MARK: query groups
// The query heads that share a KV head (grouped-query attention) read the same key and value
// rows: these loops widen each f16 row once for all of them. Per query head the operations are
// exactly those of scores_avx512 / accumulate_avx512 (and, for the AVX2 copies below them, of
// scores_avx2 / accumulate_avx2), so the bits are the same.

__attribute__((target("avx512f,avx2,fma,f16c"), always_inline))
static inline void scores_group_avx512(const int G, const float *q, int64_t q_stride, const void *const *keys,
                                       int half, int64_t count, int64_t hd, float *out, int64_t out_stride) {
    int64_t j = 0;
    if (hd % 8 == 0) {
        for (; j + 2 <= count; j += 2) {
            const void *k0 = keys[j], *k1 = keys[j + 1];
            __m512 acc[4];
            for (int g = 0; g < G; g++) acc[g] = _mm512_setzero_ps();
            for (int64_t i = 0; i < hd; i += 8) {
                const __m512 kk = join256(row8(k0, i, half), row8(k1, i, half));
                for (int g = 0; g < G; g++) {
                    const __m256 q8 = _mm256_loadu_ps(q + g * q_stride + i);
                    acc[g] = _mm512_fmadd_ps(join256(q8, q8), kk, acc[g]);
                }
            }
            for (int g = 0; g < G; g++) {
                out[g * out_stride + j] = hsum256(_mm512_castps512_ps256(acc[g]));
                out[g * out_stride + j + 1] = hsum256(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[g]), 1)));
            }
        }
    }
    if (j < count) {
        for (int g = 0; g < G; g++) scores_avx2(q + g * q_stride, keys + j, half, count - j, hd, out + g * out_stride + j);
    }
}

__attribute__((target("avx512f,avx2,fma,f16c"), always_inline))
static inline void accumulate_group_avx512(const int G, float *acc, int64_t acc_stride, const float *corrections,
                                           const float *w, int64_t w_stride, const void *const *rows, int half,
                                           int64_t count, int64_t hd) {
    if (hd % 16 != 0) {
        for (int g = 0; g < G; g++) {
            accumulate_avx2(acc + g * acc_stride, corrections[g], w + g * w_stride, rows, half, count, hd);
        }
        return;
    }
    for (int64_t d = 0; d < hd; d += 16) {
        __m512 a[4];
        for (int g = 0; g < G; g++) {
            a[g] = _mm512_mul_ps(_mm512_loadu_ps(acc + g * acc_stride + d), _mm512_set1_ps(corrections[g]));
        }
        for (int64_t j = 0; j < count; j++) {
            const __m512 r = row16(rows[j], d, half);
            for (int g = 0; g < G; g++) a[g] = _mm512_fmadd_ps(_mm512_set1_ps(w[g * w_stride + j]), r, a[g]);
        }
        for (int g = 0; g < G; g++) _mm512_storeu_ps(acc + g * acc_stride + d, a[g]);
    }
}

// One copy per level, group size up to 4 (a literal, so the accumulators are registers) and
// row type: scores_group<G><SUFFIX> runs scores_group_<LOOP>, accumulate_group<G><SUFFIX>
// accumulate_group_<LOOP>.
#define GROUP_COPIES(G, SUFFIX, TARGET, LOOP)                                                                    \
    __attribute__((target(TARGET))) static void scores_group##G##SUFFIX(                                         \
        const float *q, int64_t qs, const void *const *k, int half, int64_t n, int64_t hd, float *o, int64_t os) { \
        if (half) scores_group_##LOOP(G, q, qs, k, 1, n, hd, o, os);                                             \
        else scores_group_##LOOP(G, q, qs, k, 0, n, hd, o, os);                                                  \
    }                                                                                                            \
    __attribute__((target(TARGET))) static void accumulate_group##G##SUFFIX(                                     \
        float *a, int64_t as, const float *c, const float *w, int64_t ws, const void *const *r, int half, int64_t n, \
        int64_t hd) {                                                                                            \
        if (half) accumulate_group_##LOOP(G, a, as, c, w, ws, r, 1, n, hd);                                      \
        else accumulate_group_##LOOP(G, a, as, c, w, ws, r, 0, n, hd);                                           \
    }
#define AVX512_TARGET "avx512f,avx2,fma,f16c"
GROUP_COPIES(1, , AVX512_TARGET, avx512)
GROUP_COPIES(2, , AVX512_TARGET, avx512)
GROUP_COPIES(3, , AVX512_TARGET, avx512)
GROUP_COPIES(4, , AVX512_TARGET, avx512)
GROUP_COPIES(1, _avx2, "avx2,fma,f16c", avx2)
GROUP_COPIES(2, _avx2, "avx2,fma,f16c", avx2)
GROUP_COPIES(3, _avx2, "avx2,fma,f16c", avx2)
GROUP_COPIES(4, _avx2, "avx2,fma,f16c", avx2)
#undef AVX512_TARGET
#undef GROUP_COPIES
#endif

void canopy_attention_scores(const float *q, const void *const *keys, canopy_kv_row type, int64_t count, int64_t hd,
                             float *scores) {
    canopy_attention_scores_at(canopy_isa_supported(), q, keys, type, count, hd, scores);
}

void canopy_attention_accumulate(float *acc, float correction, const float *weights, const void *const *rows,
                                 canopy_kv_row type, int64_t count, int64_t hd) {
    canopy_attention_accumulate_at(canopy_isa_supported(), acc, correction, weights, rows, type, count, hd);
}

static canopy_isa clamp_level(canopy_isa isa) {
    const canopy_isa supported = canopy_isa_supported();
    return isa < supported ? isa : supported;
}

void canopy_attention_scores_at(canopy_isa isa, const float *q, const void *const *keys, canopy_kv_row type,
                                int64_t count, int64_t hd, float *scores) {
    const int half = type == CANOPY_KV_ROW_F16;
#if defined(__x86_64__)
    switch (clamp_level(isa)) {
    case CANOPY_ISA_AVX512VNNI: (half ? scores_avx512_f16 : scores_avx512_f32)(q, keys, count, hd, scores); return;
    case CANOPY_ISA_AVX2: (half ? scores_avx2_f16 : scores_avx2_f32)(q, keys, count, hd, scores); return;
    default: break;
    }
#endif
    for (int64_t j = 0; j < count; j++) {
        float s = 0;
        for (int64_t i = 0; i < hd; i++) s += q[i] * row_at(keys[j], i, half);
        scores[j] = s;
    }
}

void canopy_attention_accumulate_at(canopy_isa isa, float *acc, float correction, const float *weights,
                                    const void *const *rows, canopy_kv_row type, int64_t count, int64_t hd) {
    const int half = type == CANOPY_KV_ROW_F16;
#if defined(__x86_64__)
    switch (clamp_level(isa)) {
    case CANOPY_ISA_AVX512VNNI:
        (half ? accumulate_avx512_f16 : accumulate_avx512_f32)(acc, correction, weights, rows, count, hd);
        return;
    case CANOPY_ISA_AVX2:
        (half ? accumulate_avx2_f16 : accumulate_avx2_f32)(acc, correction, weights, rows, count, hd);
        return;
    default: break;
    }
#endif
    for (int64_t d = 0; d < hd; d++) {
        float a = acc[d] * correction;
        for (int64_t j = 0; j < count; j++) a += weights[j] * row_at(rows[j], d, half);
        acc[d] = a;
    }
}

#if defined(__x86_64__)
typedef void (*scores_group_fn)(const float *, int64_t, const void *const *, int, int64_t, int64_t, float *, int64_t);
typedef void (*accumulate_group_fn)(float *, int64_t, const float *, const float *, int64_t, const void *const *, int,
                                    int64_t, int64_t);

/// The group copies of the process's level (entry g - 1 takes g vectors), or NULL below AVX2.
static const scores_group_fn *scores_groups(void) {
    static const scores_group_fn avx512[4] = {scores_group1, scores_group2, scores_group3, scores_group4};
    static const scores_group_fn avx2[4] = {scores_group1_avx2, scores_group2_avx2, scores_group3_avx2,
                                            scores_group4_avx2};
    if (clamp_level(CANOPY_ISA_AVX512VNNI) == CANOPY_ISA_AVX512VNNI) return avx512;
    return clamp_level(CANOPY_ISA_AVX2) == CANOPY_ISA_AVX2 ? avx2 : NULL;
}

static const accumulate_group_fn *accumulate_groups(void) {
    static const accumulate_group_fn avx512[4] = {accumulate_group1, accumulate_group2, accumulate_group3,
                                                  accumulate_group4};
    static const accumulate_group_fn avx2[4] = {accumulate_group1_avx2, accumulate_group2_avx2,
                                                accumulate_group3_avx2, accumulate_group4_avx2};
    if (clamp_level(CANOPY_ISA_AVX512VNNI) == CANOPY_ISA_AVX512VNNI) return avx512;
    return clamp_level(CANOPY_ISA_AVX2) == CANOPY_ISA_AVX2 ? avx2 : NULL;
}
#endif

void canopy_attention_scores_group(const float *q, int64_t q_stride, int64_t group, const void *const *keys,
                                   canopy_kv_row type, int64_t count, int64_t hd, float *scores, int64_t scores_stride) {
#if defined(__x86_64__)
    const scores_group_fn *copies = scores_groups();
    if (copies) {
        const int half = type == CANOPY_KV_ROW_F16;
        for (int64_t g = 0; g < group; g += 4) {
            copies[(group - g < 4 ? group - g : 4) - 1](q + g * q_stride, q_stride, keys, half, count, hd,
                                                        scores + g * scores_stride, scores_stride);
        }
        return;
    }
#endif
    for (int64_t g = 0; g < group; g++) canopy_attention_scores(q + g * q_stride, keys, type, count, hd, scores + g * scores_stride);
}

void canopy_attention_accumulate_group(float *acc, int64_t acc_stride, const float *corrections, const float *weights,
                                       int64_t weights_stride, int64_t group, const void *const *rows,
                                       canopy_kv_row type, int64_t count, int64_t hd) {
#if defined(__x86_64__)
    const accumulate_group_fn *copies = accumulate_groups();
    if (copies) {
        const int half = type == CANOPY_KV_ROW_F16;
        for (int64_t g = 0; g < group; g += 4) {
            copies[(group - g < 4 ? group - g : 4) - 1](acc + g * acc_stride, acc_stride, corrections + g,
                                                        weights + g * weights_stride, weights_stride, rows, half,
                                                        count, hd);
        }
        return;
    }
#endif
    for (int64_t g = 0; g < group; g++) {
        canopy_attention_accumulate(acc + g * acc_stride, corrections[g], weights + g * weights_stride, rows, type, count, hd);
    }
}

// MARK: online softmax

#if defined(__x86_64__)
__attribute__((target("avx512f,avx2")))
static float chunk_max_avx512(const float *scores, int64_t count) {
    __m512 m = _mm512_set1_ps(-__builtin_inff());
    int64_t j = 0;
    for (; j + 16 <= count; j += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(scores + j));
    if (j < count) {
        const __mmask16 tail = (__mmask16)((1u << (count - j)) - 1);
        m = _mm512_max_ps(m, _mm512_mask_loadu_ps(_mm512_set1_ps(-__builtin_inff()), tail, scores + j));
    }
    return _mm512_reduce_max_ps(m);
}

__attribute__((target("avx512f,avx2")))
static void exp_shifted_avx512(float *scores, int64_t count, float shift) {
    int64_t j = 0;
    for (; j + 16 <= count; j += 16) {
        _mm512_storeu_ps(scores + j, canopy_exp16(_mm512_sub_ps(_mm512_loadu_ps(scores + j), _mm512_set1_ps(shift))));
    }
    for (; j < count; j += 8) {
        _mm256_storeu_ps(scores + j, canopy_exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + j), _mm256_set1_ps(shift))));
    }
}

__attribute__((target("avx2")))
static void exp_shifted_avx2(float *scores, int64_t count, float shift) {
    for (int64_t j = 0; j < count; j += 8) {
        _mm256_storeu_ps(scores + j, canopy_exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + j), _mm256_set1_ps(shift))));
    }
}
#endif

float canopy_attention_softmax_step(float *scores, int64_t count, float *run_max, float *run_sum) {
#pragma clang fp contract(off)
    const canopy_isa level = canopy_isa_supported();
    float chunk_max = scores[0];
#if defined(__x86_64__)
    if (level >= CANOPY_ISA_AVX512VNNI) chunk_max = chunk_max_avx512(scores, count);
    else
#endif
        for (int64_t j = 1; j < count; j++) chunk_max = scores[j] > chunk_max ? scores[j] : chunk_max;
    const float old_max = *run_max;
    const float new_max = chunk_max > old_max ? chunk_max : old_max;
    // exp(-inf) is 0 on the first chunk, clearing the (zero) accumulator and sum.
    const float correction = canopy_exp_scalar(old_max - new_max);
#if defined(__x86_64__)
    if (level >= CANOPY_ISA_AVX512VNNI) exp_shifted_avx512(scores, count, new_max);
    else if (level >= CANOPY_ISA_AVX2) exp_shifted_avx2(scores, count, new_max);
    else
#endif
        for (int64_t j = 0; j < count; j++) scores[j] = canopy_exp_scalar(scores[j] - new_max);
    float sum = 0;
    for (int64_t j = 0; j < count; j++) sum += scores[j];
    *run_sum = *run_sum * correction + sum;
    *run_max = new_max;
    return correction;
}
