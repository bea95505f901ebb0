// SwiGLU's gate, silu(g) · up, as llama.cpp computes it on CPUs: its vector loops use a
// polynomial exponential (ggml_v_expf) and its scalar code libm's expf. Here the AVX2 and
// AVX-512 levels use VectorMath.exp's polynomial (vector_exp.h; the same IEEE operations in
// the same order, so both levels, and Swift's SIMD8 form of the formula, give the same bits),
// and the scalar level libm's expf, exactly what every level computed before this loop moved
// to C (libm's expf per value had been ~4 % of a 32-stream decode step). The levels differ in
// those last bits, as the attention loops' do, so this runs at the supported level
// (canopy_isa_supported), never the one canopy_isa_select lowers for a test.
//
// Why the scalar level keeps expf: the scalar level's attention sums in its own order, and with
// the polynomial on top its greedy tokens left llama.cpp's at a step where llama.cpp's margin
// is 0.38 (test_kernel_level.py, record 1, step 4), while with expf they follow it as before.
#include "canopy_kernels.h"
#include "vector_exp.h"

#include <math.h>
#include <stdint.h>

#pragma clang fp contract(off)

// Below this g, e^−g overflows a float (as libm's expf does) and silu(g) is −0.
#define SILU_LOWEST (-88.0f)

/// silu with the polynomial exponential: the vector levels' tails, one value at a time.
static float silu_polynomial(float g) {
    const float e = g < SILU_LOWEST ? __builtin_inff() : canopy_exp_scalar(-g);
    return g / (1.0f + e);
}

/// silu with libm's expf: the scalar level.
static float silu_libm(float g) { return g / (1.0f + expf(-g)); }

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
    for (; i < n; i++) gate[i] = silu_polynomial(gate[i]) * up[i];
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
    for (; i < n; i++) gate[i] = silu_polynomial(gate[i]) * up[i];
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
    for (int64_t i = 0; i < n; i++) gate[i] = silu_libm(gate[i]) * up[i];
}

void canopy_swiglu(float *gate, const float *up, int64_t n) { canopy_swiglu_at(canopy_isa_supported(), gate, up, n); }
