// Activation quantization to ggml's Q8_0/Q8_1 values (see canopy_q8_quantize).
#include "canopy_kernels.h"
#include "half.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define ROUND_MODE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#endif

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

size_t canopy_q8_scratch_bytes(int64_t tokens, int64_t cols) {
    const int64_t blocks = cols / 32, padded = round_up(blocks, 8);
    const int64_t qs = round_up(tokens * cols, 64);
    const int64_t scales = round_up(tokens * padded * 4, 64);
    const int64_t lanes = tokens * blocks * 32;
    return (size_t)(qs + 3 * scales + lanes);
}

/// The per-block tail shared by every path: scales and lane and block bases from the int8 values.
static inline void finish_block(const int8_t *q, float amax, int32_t offset, float *d, float *s,
                                int32_t *lane_base, int32_t *block_base) {
    const float dd = amax / 127.0f;
    int32_t sum = 0;
    for (int j = 0; j < 32; j++) sum += q[j];
    *d = canopy_half_to_float(canopy_float_to_half(dd));
    *s = canopy_half_to_float(canopy_float_to_half(dd * (float)sum));
    *block_base = -offset * sum;
    if (offset != 0) {
        for (int i = 0; i < 8; i++) {
            lane_base[i] = -offset * (q[4 * i] + q[4 * i + 1] + q[4 * i + 2] + q[4 * i + 3]);
        }
    }
}

static void quantize_row_scalar(const float *x, int64_t blocks, int32_t offset, int8_t *qs, float *d,
                                float *s, int32_t *lane_base, int32_t *block_base) {
    for (int64_t b = 0; b < blocks; b++) {
        const float *xb = x + 32 * b;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        int8_t *q = qs + 32 * b;
        for (int j = 0; j < 32; j++) q[j] = (int8_t)nearbyintf(xb[j] * id);  // default mode: ties to even
        finish_block(q, amax, offset, d + b, s + b, lane_base + 8 * b, block_base + b);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma,f16c")))
static void quantize_row_avx2(const float *x, int64_t blocks, int32_t offset, int8_t *qs, float *d,
                              float *s, int32_t *lane_base, int32_t *block_base) {
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < blocks; b++) {
        const float *xb = x + 32 * b;
        __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
        __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign_mask, v0), _mm256_andnot_ps(sign_mask, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign_mask, v2), _mm256_andnot_ps(sign_mask, v3)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const __m256 id = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), ROUND_MODE));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), ROUND_MODE));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), ROUND_MODE));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), ROUND_MODE));
        // packs interleave 128-bit lanes; the permute restores element order.
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(qs + 32 * b), p);
        // finish_block's arithmetic on the vector: Σ q exact in int32 (lane i of `quads` is
        // q[4i] + ... + q[4i + 3]), and F16C's round to nearest even, which canopy_float_to_half
        // equals for finite values (an infinite amax gives an infinite scale either way, a NaN one a
        // NaN, whose payload may differ).
        const __m256i quads = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(quads), _mm256_extracti128_si256(quads, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        const int32_t sum = _mm_cvtsi128_si32(s4);
        const float dd = amax / 127.0f;
        d[b] = _cvtsh_ss(_cvtss_sh(dd, 0));
        s[b] = _cvtsh_ss(_cvtss_sh(dd * (float)sum, 0));
        block_base[b] = -offset * sum;
        if (offset != 0) {
            _mm256_storeu_si256((__m256i *)(lane_base + 8 * b), _mm256_mullo_epi32(quads, _mm256_set1_epi32(-offset)));
        }
    }
}
#endif

typedef struct quantize_job {
    const float *x;
    canopy_q8_rows *rows;
    const float *norm_weight;  // NULL: quantize x as it is
    float epsilon;
} quantize_job;

static void quantize_blocks(const float *x, int64_t blocks, int32_t offset, int8_t *qs, float *d, float *s,
                            int32_t *lanes, int32_t *block_base) {
#if defined(__x86_64__)
    if (canopy_isa_active() >= CANOPY_ISA_AVX2) {
        quantize_row_avx2(x, blocks, offset, qs, d, s, lanes, block_base);
        return;
    }
#endif
    quantize_row_scalar(x, blocks, offset, qs, d, s, lanes, block_base);
}

/// RMSNorm of one row, quantized block by block as it is produced, so the normalised row is
/// never written out. The arithmetic is RMSNorm.apply's (Swift), operation for operation
/// (sum of squares in double, in order; no contraction), so the values quantized are the
/// same bits the unfused path would quantize.
static void quantize_normalized_row(const float *x, const float *w, float epsilon, int64_t cols, int32_t offset,
                                    int8_t *qs, float *d, float *s, int32_t *lanes, int32_t *block_base) {
    double sum = 0;
    for (int64_t i = 0; i < cols; i++) {
        const double v = x[i];
        sum += v * v;
    }
    const float mean = (float)(sum / (double)cols);
    const float scale = 1.0f / sqrtf(mean + epsilon);
    float normalized[32];
    for (int64_t b = 0; b < cols / 32; b++) {
        for (int j = 0; j < 32; j++) normalized[j] = (x[32 * b + j] * scale) * w[32 * b + j];
        quantize_blocks(normalized, 1, offset, qs + 32 * b, d + b, s + b, lanes + 8 * b, block_base + b);
    }
}

static void quantize_token(void *context, int64_t t) {
    const quantize_job *job = context;
    const canopy_q8_rows *r = job->rows;
    const float *x = job->x + t * r->cols;
    int8_t *qs = r->qs + t * r->cols;
    float *d = r->d + t * r->padded_blocks, *s = r->s + t * r->padded_blocks;
    int32_t *lanes = r->lane_base + t * r->blocks * 8, *block_base = r->block_base + t * r->padded_blocks;
    if (job->norm_weight) {
        quantize_normalized_row(x, job->norm_weight, job->epsilon, r->cols, r->lane_offset, qs, d, s, lanes, block_base);
    } else {
        quantize_blocks(x, r->blocks, r->lane_offset, qs, d, s, lanes, block_base);
    }
    for (int64_t b = r->blocks; b < r->padded_blocks; b++) {
        d[b] = s[b] = 0;
        block_base[b] = 0;
    }
}

static void quantize(canopy_pool *pool, const float *x, const float *norm_weight, float epsilon, int64_t tokens,
                     int64_t cols, int32_t lane_offset, void *scratch, canopy_q8_rows *out) {
    const int64_t blocks = cols / 32, padded = round_up(blocks, 8);
    char *p = scratch;
    out->tokens = tokens;
    out->cols = cols;
    out->blocks = blocks;
    out->padded_blocks = padded;
    out->lane_offset = lane_offset;
    out->qs = (int8_t *)p;
    p += round_up(tokens * cols, 64);
    out->d = (float *)p;
    p += round_up(tokens * padded * 4, 64);
    out->s = (float *)p;
    p += round_up(tokens * padded * 4, 64);
    out->block_base = (int32_t *)p;
    p += round_up(tokens * padded * 4, 64);
    out->lane_base = (int32_t *)p;
    quantize_job job = {x, out, norm_weight, epsilon};
    if (tokens >= 8 && pool) {
        canopy_pool_run(pool, tokens, quantize_token, &job);
    } else {
        for (int64_t t = 0; t < tokens; t++) quantize_token(&job, t);
    }
}

void canopy_q8_quantize(canopy_pool *pool, const float *x, int64_t tokens, int64_t cols,
                        int32_t lane_offset, void *scratch, canopy_q8_rows *out) {
    quantize(pool, x, NULL, 0, tokens, cols, lane_offset, scratch, out);
}

void canopy_q8_quantize_rmsnorm(canopy_pool *pool, const float *x, const float *weight, float epsilon,
                                int64_t tokens, int64_t cols, int32_t lane_offset, void *scratch,
                                canopy_q8_rows *out) {
    quantize(pool, x, weight, epsilon, tokens, cols, lane_offset, scratch, out);
}
