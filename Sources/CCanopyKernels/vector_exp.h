// e^x as VectorMath.exp (CanopyKernels) computes it, for the C loops: Cephes-style
// x = n·ln2 + r, a degree-6 polynomial in r, then n added to the exponent; within about 2 ulp
// for normal results, 0 below EXP_LOWEST (including -inf), inputs clamped at 88. The same IEEE
// operations in the same order at every width (multiplies and adds kept apart, no fused
// multiply-add), so the scalar, AVX2 and AVX-512 forms and Swift's SIMD8 form give the same
// bits (ActivationTests, AttentionSoftmaxTests).
#ifndef CANOPY_VECTOR_EXP_H
#define CANOPY_VECTOR_EXP_H

#include <stdint.h>
#include <string.h>

#define CANOPY_EXP_LOWEST (-87.33654f)
#define CANOPY_EXP_HIGHEST 88.0f
#define CANOPY_EXP_LOG2E 1.44269504f
#define CANOPY_EXP_LN2_HIGH 0.693359375f
#define CANOPY_EXP_LN2_LOW (-2.1219444e-4f)
#define CANOPY_EXP_MAGIC 12582912.0f  // 1.5 · 2^23: adding it rounds to an integer (ties to even)
#define CANOPY_EXP_P0 1.98756915e-4f
#define CANOPY_EXP_P1 1.39819995e-3f
#define CANOPY_EXP_P2 8.3334519e-3f
#define CANOPY_EXP_P3 4.16657959e-2f
#define CANOPY_EXP_P4 1.66666655e-1f
#define CANOPY_EXP_P5 5.00000012e-1f
#define CANOPY_EXP_MAGIC_BITS 0x4B400000u

static inline float canopy_exp_scalar(float x) {
#pragma clang fp contract(off)
    const int too_low = x < CANOPY_EXP_LOWEST;
    float c = too_low ? CANOPY_EXP_LOWEST : x;
    if (x > CANOPY_EXP_HIGHEST) c = CANOPY_EXP_HIGHEST;
    const float shifted = c * CANOPY_EXP_LOG2E + CANOPY_EXP_MAGIC;
    const float n = shifted - CANOPY_EXP_MAGIC;
    const float r = c - n * CANOPY_EXP_LN2_HIGH - n * CANOPY_EXP_LN2_LOW;
    float p = CANOPY_EXP_P0 * r + CANOPY_EXP_P1;
    p = p * r + CANOPY_EXP_P2;
    p = p * r + CANOPY_EXP_P3;
    p = p * r + CANOPY_EXP_P4;
    p = p * r + CANOPY_EXP_P5;
    const float y = p * (r * r) + r + 1.0f;
    uint32_t s, biased;
    memcpy(&s, &shifted, 4);
    biased = (s - CANOPY_EXP_MAGIC_BITS + 127u) << 23;
    float scale;
    memcpy(&scale, &biased, 4);
    return too_low ? 0.0f : y * scale;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f"), always_inline)) static inline __m512 canopy_exp16(__m512 x) {
    const __mmask16 too_low = _mm512_cmp_ps_mask(x, _mm512_set1_ps(CANOPY_EXP_LOWEST), _CMP_LT_OQ);
    __m512 c = _mm512_mask_mov_ps(x, too_low, _mm512_set1_ps(CANOPY_EXP_LOWEST));
    c = _mm512_mask_mov_ps(c, _mm512_cmp_ps_mask(x, _mm512_set1_ps(CANOPY_EXP_HIGHEST), _CMP_GT_OQ),
                           _mm512_set1_ps(CANOPY_EXP_HIGHEST));
    const __m512 shifted = _mm512_add_ps(_mm512_mul_ps(c, _mm512_set1_ps(CANOPY_EXP_LOG2E)), _mm512_set1_ps(CANOPY_EXP_MAGIC));
    const __m512 n = _mm512_sub_ps(shifted, _mm512_set1_ps(CANOPY_EXP_MAGIC));
    const __m512 r = _mm512_sub_ps(_mm512_sub_ps(c, _mm512_mul_ps(n, _mm512_set1_ps(CANOPY_EXP_LN2_HIGH))),
                                   _mm512_mul_ps(n, _mm512_set1_ps(CANOPY_EXP_LN2_LOW)));
    __m512 p = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(CANOPY_EXP_P0), r), _mm512_set1_ps(CANOPY_EXP_P1));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(CANOPY_EXP_P2));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(CANOPY_EXP_P3));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(CANOPY_EXP_P4));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(CANOPY_EXP_P5));
    const __m512 y = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r), _mm512_set1_ps(1.0f));
    const __m512i biased = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32((int)CANOPY_EXP_MAGIC_BITS)),
                         _mm512_set1_epi32(127)),
        23);
    return _mm512_maskz_mov_ps((__mmask16)~too_low, _mm512_mul_ps(y, _mm512_castsi512_ps(biased)));
}

__attribute__((target("avx2"), always_inline)) static inline __m256 canopy_exp8(__m256 x) {
    const __m256 too_low = _mm256_cmp_ps(x, _mm256_set1_ps(CANOPY_EXP_LOWEST), _CMP_LT_OQ);
    __m256 c = _mm256_blendv_ps(x, _mm256_set1_ps(CANOPY_EXP_LOWEST), too_low);
    c = _mm256_blendv_ps(c, _mm256_set1_ps(CANOPY_EXP_HIGHEST),
                         _mm256_cmp_ps(x, _mm256_set1_ps(CANOPY_EXP_HIGHEST), _CMP_GT_OQ));
    const __m256 shifted = _mm256_add_ps(_mm256_mul_ps(c, _mm256_set1_ps(CANOPY_EXP_LOG2E)), _mm256_set1_ps(CANOPY_EXP_MAGIC));
    const __m256 n = _mm256_sub_ps(shifted, _mm256_set1_ps(CANOPY_EXP_MAGIC));
    const __m256 r = _mm256_sub_ps(_mm256_sub_ps(c, _mm256_mul_ps(n, _mm256_set1_ps(CANOPY_EXP_LN2_HIGH))),
                                   _mm256_mul_ps(n, _mm256_set1_ps(CANOPY_EXP_LN2_LOW)));
    __m256 p = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(CANOPY_EXP_P0), r), _mm256_set1_ps(CANOPY_EXP_P1));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(CANOPY_EXP_P2));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(CANOPY_EXP_P3));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(CANOPY_EXP_P4));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(CANOPY_EXP_P5));
    const __m256 y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r), _mm256_set1_ps(1.0f));
    const __m256i biased = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32((int)CANOPY_EXP_MAGIC_BITS)),
                         _mm256_set1_epi32(127)),
        23);
    return _mm256_andnot_ps(too_low, _mm256_mul_ps(y, _mm256_castsi256_ps(biased)));
}
#endif

#endif
