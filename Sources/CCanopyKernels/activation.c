// SwiGLU's gate, silu(g) · up, with the exponential of VectorMath.exp (CanopyKernels): the
// same IEEE operations in the same order on every level (multiplies and adds kept apart, no
// fused multiply-add, selects by comparison), so every level, and the Swift SIMD8 code it
// replaces, gives the same bits. In C because at Swift's baseline target SIMD8 compiles to
// SSE2, and libm's expf per value cost ~4 % of a 32-stream decode step.
#include "canopy_kernels.h"

#include <stdint.h>
#include <string.h>

#pragma clang fp contract(off)

// VectorMath.exp's constants (see there): Cephes-style e^x = 2^n · p(r).
#define EXP_LOWEST (-87.33654f)
#define EXP_HIGHEST 88.0f
#define LOG2E 1.44269504f
#define LN2_HIGH 0.693359375f
#define LN2_LOW (-2.1219444e-4f)
#define MAGIC 12582912.0f  // 1.5 · 2^23: adding it rounds to an integer (ties to even)
#define P0 1.98756915e-4f
#define P1 1.39819995e-3f
#define P2 8.3334519e-3f
#define P3 4.16657959e-2f
#define P4 1.66666655e-1f
#define P5 5.00000012e-1f
// Below this g, e^−g overflows a float (as libm's expf does) and silu(g) is −0.
#define SILU_LOWEST (-88.0f)

static inline uint32_t bits_of(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static inline float float_of(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static float silu_scalar(float g) {
    const float x = -g;
    const int too_low = x < EXP_LOWEST;
    float c = too_low ? EXP_LOWEST : x;
    if (x > EXP_HIGHEST) c = EXP_HIGHEST;
    const float shifted = c * LOG2E + MAGIC;
    const float n = shifted - MAGIC;
    const float r = c - n * LN2_HIGH - n * LN2_LOW;
    float p = P0 * r + P1;
    p = p * r + P2;
    p = p * r + P3;
    p = p * r + P4;
    p = p * r + P5;
    const float y = p * (r * r) + r + 1.0f;
    const uint32_t biased = (bits_of(shifted) - bits_of(MAGIC) + 127u) << 23;
    float e = too_low ? 0.0f : y * float_of(biased);
    if (g < SILU_LOWEST) e = __builtin_inff();
    return g / (1.0f + e);
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f")))
static void swiglu_avx512(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i);
        const __m512 x = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(g), _mm512_set1_epi32((int)0x80000000u)));
        const __mmask16 too_low = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_LOWEST), _CMP_LT_OQ);
        __m512 c = _mm512_mask_mov_ps(x, too_low, _mm512_set1_ps(EXP_LOWEST));
        c = _mm512_mask_mov_ps(c, _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_HIGHEST), _CMP_GT_OQ),
                               _mm512_set1_ps(EXP_HIGHEST));
        const __m512 shifted = _mm512_add_ps(_mm512_mul_ps(c, _mm512_set1_ps(LOG2E)), _mm512_set1_ps(MAGIC));
        const __m512 nn = _mm512_sub_ps(shifted, _mm512_set1_ps(MAGIC));
        const __m512 r = _mm512_sub_ps(_mm512_sub_ps(c, _mm512_mul_ps(nn, _mm512_set1_ps(LN2_HIGH))),
                                       _mm512_mul_ps(nn, _mm512_set1_ps(LN2_LOW)));
        __m512 p = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(P0), r), _mm512_set1_ps(P1));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(P2));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(P3));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(P4));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(P5));
        const __m512 y = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r), _mm512_set1_ps(1.0f));
        const __m512i biased = _mm512_slli_epi32(
            _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32((int)bits_of(MAGIC))),
                             _mm512_set1_epi32(127)),
            23);
        __m512 e = _mm512_maskz_mov_ps((__mmask16)~too_low, _mm512_mul_ps(y, _mm512_castsi512_ps(biased)));
        e = _mm512_mask_mov_ps(e, _mm512_cmp_ps_mask(g, _mm512_set1_ps(SILU_LOWEST), _CMP_LT_OQ),
                               _mm512_set1_ps(__builtin_inff()));
        const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_storeu_ps(gate + i, _mm512_mul_ps(silu, _mm512_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = silu_scalar(gate[i]) * up[i];
}

__attribute__((target("avx2")))
static void swiglu_avx2(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 x = _mm256_xor_ps(g, _mm256_set1_ps(-0.0f));
        const __m256 too_low = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_LOWEST), _CMP_LT_OQ);
        __m256 c = _mm256_blendv_ps(x, _mm256_set1_ps(EXP_LOWEST), too_low);
        c = _mm256_blendv_ps(c, _mm256_set1_ps(EXP_HIGHEST), _mm256_cmp_ps(x, _mm256_set1_ps(EXP_HIGHEST), _CMP_GT_OQ));
        const __m256 shifted = _mm256_add_ps(_mm256_mul_ps(c, _mm256_set1_ps(LOG2E)), _mm256_set1_ps(MAGIC));
        const __m256 nn = _mm256_sub_ps(shifted, _mm256_set1_ps(MAGIC));
        const __m256 r = _mm256_sub_ps(_mm256_sub_ps(c, _mm256_mul_ps(nn, _mm256_set1_ps(LN2_HIGH))),
                                       _mm256_mul_ps(nn, _mm256_set1_ps(LN2_LOW)));
        __m256 p = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(P0), r), _mm256_set1_ps(P1));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(P2));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(P3));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(P4));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(P5));
        const __m256 y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r), _mm256_set1_ps(1.0f));
        const __m256i biased = _mm256_slli_epi32(
            _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32((int)bits_of(MAGIC))),
                             _mm256_set1_epi32(127)),
            23);
        __m256 e = _mm256_andnot_ps(too_low, _mm256_mul_ps(y, _mm256_castsi256_ps(biased)));
        e = _mm256_blendv_ps(e, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(g, _mm256_set1_ps(SILU_LOWEST), _CMP_LT_OQ));
        const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = silu_scalar(gate[i]) * up[i];
}
#endif

void canopy_swiglu_at(canopy_isa isa, float *gate, const float *up, int64_t n) {
#if defined(__x86_64__)
    if (isa > canopy_isa_supported()) isa = canopy_isa_supported();
    if (isa >= CANOPY_ISA_AVX512VNNI) {
        swiglu_avx512(gate, up, n);
        return;
    }
    if (isa >= CANOPY_ISA_AVX2) {
        swiglu_avx2(gate, up, n);
        return;
    }
#endif
    (void)isa;
    for (int64_t i = 0; i < n; i++) gate[i] = silu_scalar(gate[i]) * up[i];
}

void canopy_swiglu(float *gate, const float *up, int64_t n) { canopy_swiglu_at(canopy_isa_active(), gate, up, n); }
