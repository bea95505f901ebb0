// K-quant weights (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K; 256-value super-blocks) times Q8_K
// activations, with ggml's integer formulas.
//
// Each weight super-block is first unpacked to one canonical form — 256 unsigned bytes
// u = q + offset, sixteen int16 scales and mins (one per 16 values), and the f16 d / dmin —
// once per row and call, then reused by every token. Per super-block and token:
//   isum = Σ_g sc[g] · (Σ_{i∈g} u_i x_i − offset · bsum_g)      (exact int32)
//   msum = Σ_g mn[g] · bsum_g                                   (exact int32)
//   row += (d_x · d) · isum − (d_x · dmin) · msum               (float, in this order)
// The integer sums are exact whatever the instruction set, and the float steps are the same
// scalar code everywhere, so AVX2 and scalar give the same bits.
#include "gemm_internal.h"
#include "half.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct kblock {
    uint8_t u[256];
    int16_t sc[16];
    int16_t mn[16];
    float d;
    float dmin;
} kblock;

static int64_t kblock_bytes(canopy_weight_type type) {
    switch (type) {
    case CANOPY_WEIGHT_Q2_K: return 84;
    case CANOPY_WEIGHT_Q3_K: return 110;
    case CANOPY_WEIGHT_Q4_K: return 144;
    case CANOPY_WEIGHT_Q5_K: return 176;
    case CANOPY_WEIGHT_Q6_K: return 210;
    default: return 0;
    }
}

static int32_t kblock_offset(canopy_weight_type type) {
    return type == CANOPY_WEIGHT_Q3_K ? 4 : type == CANOPY_WEIGHT_Q6_K ? 32 : 0;
}

static float le_half(const uint8_t *p) { return canopy_half_to_float((uint16_t)(p[0] | p[1] << 8)); }

/// Q4_K/Q5_K's packed 6-bit scale and min of sub-block j (32 values).
static void scale_min_k4(const uint8_t *s, int j, int16_t *sc, int16_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/// The value layouts are those of ggml's dequantize_row_qN_K (see Dequantize+KQuants.swift).
/// Inlined into a baseline and an AVX2 wrapper, so the byte loops vectorize on either.
static inline __attribute__((always_inline)) void unpack_kblock(canopy_weight_type type, const uint8_t *p, kblock *k) {
    switch (type) {
    case CANOPY_WEIGHT_Q2_K: {
        const uint8_t *scales = p, *qs = p + 16;
        k->d = le_half(p + 80);
        k->dmin = le_half(p + 82);
        // Loops with a constant shift per 32 values, so they vectorize.
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 4; s++)
                for (int l = 0; l < 32; l++) k->u[128 * h + 32 * s + l] = (qs[32 * h + l] >> (2 * s)) & 3;
        for (int g = 0; g < 16; g++) {
            k->sc[g] = scales[g] & 0x0F;
            k->mn[g] = scales[g] >> 4;
        }
        break;
    }
    case CANOPY_WEIGHT_Q3_K: {
        const uint8_t *hmask = p, *qs = p + 32, *scales = p + 96;
        k->d = le_half(p + 108);
        k->dmin = 0;
        // q = low − 4 (high bit clear) or low (set); u = q + 4 = low + 4 · high.
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 4; s++)
                for (int l = 0; l < 32; l++) {
                    const uint8_t low = (qs[32 * h + l] >> (2 * s)) & 3;
                    const uint8_t high = (hmask[l] >> (4 * h + s)) & 1;
                    k->u[128 * h + 32 * s + l] = (uint8_t)(low + 4 * high);
                }
        for (int g = 0; g < 16; g++) {
            const int low = g < 8 ? scales[g] & 0x0F : scales[g - 8] >> 4;
            const int high = (scales[8 + (g & 3)] >> (2 * (g >> 2))) & 3;
            k->sc[g] = (int16_t)((low | (high << 4)) - 32);
            k->mn[g] = 0;
        }
        break;
    }
    case CANOPY_WEIGHT_Q4_K:
    case CANOPY_WEIGHT_Q5_K: {
        const int five = type == CANOPY_WEIGHT_Q5_K;
        const uint8_t *scales = p + 4, *qh = p + 16, *qs = p + (five ? 48 : 16);
        k->d = le_half(p);
        k->dmin = le_half(p + 2);
        for (int j = 0; j < 8; j++) {
            int16_t sc, m;
            scale_min_k4(scales, j, &sc, &m);
            k->sc[2 * j] = k->sc[2 * j + 1] = sc;
            k->mn[2 * j] = k->mn[2 * j + 1] = m;
            const int shift = 4 * (j & 1);
            const uint8_t *q = qs + 32 * (j >> 1);
            uint8_t *u = k->u + 32 * j;
            // Two branch-free loops rather than one with a test inside, so both vectorize.
            if (five) {
                for (int l = 0; l < 32; l++) u[l] = (uint8_t)(((q[l] >> shift) & 0x0F) | (((qh[l] >> j) & 1) << 4));
            } else {
                for (int l = 0; l < 32; l++) u[l] = (q[l] >> shift) & 0x0F;
            }
        }
        break;
    }
    case CANOPY_WEIGHT_Q6_K: {
        const uint8_t *ql = p, *qh = p + 128;
        const int8_t *scales = (const int8_t *)(p + 192);
        k->d = le_half(p + 208);
        k->dmin = 0;
        // u = q + 32: value 128h + 32s + l takes nibble (s >> 1) of ql[64h + 32(s & 1) + l]
        // and bits 2s, 2s+1 of qh[32h + l].
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 4; s++)
                for (int l = 0; l < 32; l++) {
                    const uint8_t low = (ql[64 * h + 32 * (s & 1) + l] >> (4 * (s >> 1))) & 0x0F;
                    const uint8_t high = (qh[32 * h + l] >> (2 * s)) & 3;
                    k->u[128 * h + 32 * s + l] = (uint8_t)(low | (high << 4));
                }
        for (int g = 0; g < 16; g++) {
            k->sc[g] = scales[g];
            k->mn[g] = 0;
        }
        break;
    }
    default: break;
    }
}

static void unpack_kblock_baseline(canopy_weight_type type, const uint8_t *p, kblock *k) {
    unpack_kblock(type, p, k);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void unpack_kblock_avx2(canopy_weight_type type, const uint8_t *p, kblock *k) {
    unpack_kblock(type, p, k);
}
#endif

/// isum and msum of one unpacked block with one Q8_K block (d f32, 256 int8, 16 int16 bsums).
static void block_sums_scalar(const kblock *k, const uint8_t *xb, int32_t offset, int32_t *isum, int32_t *msum) {
    const int8_t *x = (const int8_t *)(xb + 4);
    int32_t is = 0, ms = 0;
    for (int g = 0; g < 16; g++) {
        int16_t bsum;
        memcpy(&bsum, xb + 260 + 2 * g, 2);
        int32_t s = 0;
        for (int i = 16 * g; i < 16 * g + 16; i++) s += k->u[i] * x[i];
        is += k->sc[g] * (s - offset * bsum);
        ms += k->mn[g] * bsum;
    }
    *isum = is;
    *msum = ms;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma,f16c")))
static int32_t hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2,fma,f16c")))
static void block_sums_avx2(const kblock *k, const uint8_t *xb, int32_t offset, int32_t *isum, int32_t *msum) {
    const int8_t *x = (const int8_t *)(xb + 4);
    __m256i acc = _mm256_setzero_si256();
    for (int c = 0; c < 8; c++) {
        // u ≤ 63 and |x| ≤ 127 keep maddubs' pair sums inside int16.
        const __m256i pairs = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(k->u + 32 * c)),
                                                   _mm256_loadu_si256((const __m256i *)(x + 32 * c)));
        const __m256i scale = _mm256_setr_m128i(_mm_set1_epi16(k->sc[2 * c]), _mm_set1_epi16(k->sc[2 * c + 1]));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, scale));
    }
    const __m256i bsums = _mm256_loadu_si256((const __m256i *)(xb + 260));
    const __m256i sc = _mm256_loadu_si256((const __m256i *)k->sc);
    const __m256i mn = _mm256_loadu_si256((const __m256i *)k->mn);
    *isum = hsum_epi32(acc) - offset * hsum_epi32(_mm256_madd_epi16(sc, bsums));
    *msum = hsum_epi32(_mm256_madd_epi16(mn, bsums));
}
#endif

typedef struct kquant_plan {
    canopy_weight_type type;
    const uint8_t *weights;
    int64_t rows, row_bytes, tokens, blocks;
    const uint8_t *x;  // tokens rows of `blocks` Q8_K blocks
    float *y;
    int64_t y_stride;
    int64_t tasks;
    int simd;
} kquant_plan;

static void kquant_task(void *context, int64_t task) {
    const kquant_plan *p = context;
    const int64_t r0 = p->rows * task / p->tasks, r1 = p->rows * (task + 1) / p->tasks;
    kblock *unpacked = canopy_thread_scratch((size_t)p->blocks * sizeof(kblock));
    const int64_t bb = kblock_bytes(p->type);
    const int32_t offset = kblock_offset(p->type);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = p->weights + r * p->row_bytes;
        for (int64_t b = 0; b < p->blocks; b++) {
#if defined(__x86_64__)
            if (p->simd) unpack_kblock_avx2(p->type, row + b * bb, &unpacked[b]);
            else
#endif
                unpack_kblock_baseline(p->type, row + b * bb, &unpacked[b]);
        }
        for (int64_t t = 0; t < p->tokens; t++) {
            const uint8_t *xr = p->x + t * p->blocks * 292;
            float sum = 0;
            for (int64_t b = 0; b < p->blocks; b++) {
                const uint8_t *xb = xr + 292 * b;
                int32_t isum, msum;
#if defined(__x86_64__)
                if (p->simd) block_sums_avx2(&unpacked[b], xb, offset, &isum, &msum);
                else
#endif
                    block_sums_scalar(&unpacked[b], xb, offset, &isum, &msum);
                float dx;
                memcpy(&dx, xb, 4);
                sum += (dx * unpacked[b].d) * (float)isum - (dx * unpacked[b].dmin) * (float)msum;
            }
            p->y[t * p->y_stride + r] = sum;
        }
    }
}

void canopy_gemm_kquant(canopy_pool *pool, canopy_weight_type type, const void *weights, int64_t rows,
                        int64_t row_bytes, const void *x_q8k, int64_t tokens, int64_t cols, float *y,
                        int64_t y_stride) {
    if (rows <= 0 || tokens <= 0 || kblock_bytes(type) == 0) return;
    kquant_plan plan = {type, weights, rows, row_bytes, tokens, cols / 256, x_q8k, y, y_stride, 1, 0};
#if defined(__x86_64__)
    plan.simd = canopy_isa_active() >= CANOPY_ISA_AVX2;
#endif
    const int threads = canopy_pool_threads(pool);
    if (threads > 1 && rows * cols * tokens >= (1 << 16)) plan.tasks = rows < threads * 4 ? rows : threads * 4;
    canopy_pool_run(pool, plan.tasks, kquant_task, &plan);
}
