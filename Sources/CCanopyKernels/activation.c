// SwiGLU's gate, silu(g) · up, with the exponential of VectorMath.exp (vector_exp.h): the same
// IEEE operations in the same order on every level, so every level, and Swift's SIMD8 form of
// the formula, give the same bits. In C because at Swift's baseline target SIMD8 compiles to
// SSE2, and libm's expf per value cost ~4 % of a 32-stream decode step.
#include "canopy_kernels.h"
#include "vector_exp.h"

#include <stdint.h>

#pragma clang fp contract(off)

// Below this g, e^−g overflows a float (as libm's expf does) and silu(g) is −0.
#define SILU_LOWEST (-88.0f)

static float silu_scalar(float g) {
    const float e = g < SILU_LOWEST ? __builtin_inff() : canopy_exp_scalar(-g);
    return g / (1.0f + e);
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static void swiglu_avx512(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i);
        const __m512 minus = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(g), _mm512_set1_epi32((int)0x80000000u)));
        const __m512 e = _mm512_mask_mov_ps(canopy_exp16(minus), _mm512_cmp_ps_mask(g, _mm512_set1_ps(SILU_LOWEST), _CMP_LT_OQ),
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
        const __m256 e = _mm256_blendv_ps(canopy_exp8(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f))), _mm256_set1_ps(__builtin_inff()),
                                          _mm256_cmp_ps(g, _mm256_set1_ps(SILU_LOWEST), _CMP_LT_OQ));
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
