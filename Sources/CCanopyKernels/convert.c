// f16 <-> f32 conversion of whole rows (KV cache rows, f16-rounded queries). F16C when the
// active level has it (AVX2 and up), the portable half.h code otherwise: both exact, with
// round-to-nearest-even on the way down, so every level produces the same bits.
#include "canopy_kernels.h"
#include "half.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,f16c")))
static void f16_to_f32_f16c(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    }
    for (; i < n; i++) dst[i] = _cvtsh_ss(src[i]);
}

__attribute__((target("avx2,f16c")))
static void f32_to_f16_f16c(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

__attribute__((target("avx2,f16c")))
static void round_to_f16_f16c(float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++) x[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}
#endif

void canopy_f16_to_f32(const void *src, float *dst, int64_t n) {
#if defined(__x86_64__)
    if (canopy_isa_active() >= CANOPY_ISA_AVX2) {
        f16_to_f32_f16c(src, dst, n);
        return;
    }
#endif
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = canopy_half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
}

void canopy_f32_to_f16(const float *src, void *dst, int64_t n) {
#if defined(__x86_64__)
    if (canopy_isa_active() >= CANOPY_ISA_AVX2) {
        f32_to_f16_f16c(src, dst, n);
        return;
    }
#endif
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        const uint16_t h = canopy_float_to_half(src[i]);
        p[2 * i] = (uint8_t)h;
        p[2 * i + 1] = (uint8_t)(h >> 8);
    }
}

void canopy_round_to_f16(float *x, int64_t n) {
#if defined(__x86_64__)
    if (canopy_isa_active() >= CANOPY_ISA_AVX2) {
        round_to_f16_f16c(x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) x[i] = canopy_half_to_float(canopy_float_to_half(x[i]));
}
