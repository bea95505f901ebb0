// Activation quantization to ggml's Q8_K blocks (see canopy_q8k_quantize): what K-quant
// products dot against. x86 llama.cpp runs the reference quantize_row_q8_K_ref, so every
// level here computes exactly its bytes: the SIMD path only vectorizes operations whose
// results do not depend on order (max, multiply, round, min, integer sums).
#include "canopy_kernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { QK = 256, Q8K_BYTES = 292 };

/// The first value of largest magnitude (ggml keeps the first on ties, by sign too).
static float signed_max(const float *x, float amax) {
    for (int j = 0; j < QK; j++) {
        if (fabsf(x[j]) == amax) return x[j];
    }
    return 0;
}

/// d, then the bsums, from the block's int8 values; d = 1 / iscale.
static void finish_block(const int8_t *q, float iscale, uint8_t *out) {
    const float d = 1.0f / iscale;
    memcpy(out, &d, 4);
    for (int k = 0; k < 16; k++) {
        int16_t sum = 0;
        for (int l = 0; l < 16; l++) sum = (int16_t)(sum + q[16 * k + l]);
        memcpy(out + 260 + 2 * k, &sum, 2);
    }
}

static void quantize_block_scalar(const float *x, uint8_t *out) {
    float amax = 0;
    for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    if (amax == 0) {
        memset(out, 0, Q8K_BYTES);
        return;
    }
    const float iscale = -127.0f / signed_max(x, amax);
    int8_t *q = (int8_t *)(out + 4);
    for (int j = 0; j < QK; j++) q[j] = (int8_t)fminf(127.0f, nearbyintf(iscale * x[j]));  // ties to even
    finish_block(q, iscale, out);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma,f16c")))
static void quantize_block_avx2(const float *x, uint8_t *out) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < QK; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    if (amax == 0) {
        memset(out, 0, Q8K_BYTES);
        return;
    }
    const float iscale = -127.0f / signed_max(x, amax);
    const __m256 scale = _mm256_set1_ps(iscale), top = _mm256_set1_ps(127.0f);
    int8_t *q = (int8_t *)(out + 4);
    for (int j = 0; j < QK; j += 32) {
        __m256i v[4];
        for (int k = 0; k < 4; k++) {
            const __m256 r = _mm256_round_ps(_mm256_mul_ps(scale, _mm256_loadu_ps(x + j + 8 * k)),
                                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            v[k] = _mm256_cvtps_epi32(_mm256_min_ps(r, top));
        }
        // packs interleave 128-bit lanes; the permute restores element order.
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + j), p);
    }
    finish_block(q, iscale, out);
}
#endif

typedef struct q8k_job {
    const float *x;
    int64_t cols;
    uint8_t *out;
} q8k_job;

static void quantize_token(void *context, int64_t t) {
    const q8k_job *job = context;
    const float *x = job->x + t * job->cols;
    uint8_t *out = job->out + t * (job->cols / QK) * Q8K_BYTES;
#if defined(__x86_64__)
    const int simd = canopy_isa_active() >= CANOPY_ISA_AVX2;
#else
    const int simd = 0;
#endif
    for (int64_t b = 0; b < job->cols / QK; b++) {
#if defined(__x86_64__)
        if (simd) {
            quantize_block_avx2(x + QK * b, out + Q8K_BYTES * b);
            continue;
        }
#endif
        (void)simd;
        quantize_block_scalar(x + QK * b, out + Q8K_BYTES * b);
    }
}

void canopy_q8k_quantize(canopy_pool *pool, const float *x, int64_t tokens, int64_t cols, void *out) {
    q8k_job job = {x, cols, out};
    if (tokens >= 8 && pool) {
        canopy_pool_run(pool, tokens, quantize_token, &job);
    } else {
        for (int64_t t = 0; t < tokens; t++) quantize_token(&job, t);
    }
}
