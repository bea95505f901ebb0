// Shared by kquants.c (dispatch, scalar and AVX2 sums) and kquants_avx512.c: the canonical
// unpacked form of a K-quant super-block and the per-call plan.
#ifndef CANOPY_KQUANTS_INTERNAL_H
#define CANOPY_KQUANTS_INTERNAL_H

#include "gemm_internal.h"
#include "half.h"

typedef struct kblock {
    _Alignas(64) uint8_t u[256];  // aligned: the AVX-512 path loads it as four zmm
    int16_t sc[16];
    int16_t mn[16];
    float d;
    float dmin;
} kblock;

static inline int64_t kblock_bytes(canopy_weight_type type) {
    switch (type) {
    case CANOPY_WEIGHT_Q2_K: return 84;
    case CANOPY_WEIGHT_Q3_K: return 110;
    case CANOPY_WEIGHT_Q4_K: return 144;
    case CANOPY_WEIGHT_Q5_K: return 176;
    case CANOPY_WEIGHT_Q6_K: return 210;
    default: return 0;
    }
}

static inline int32_t kblock_offset(canopy_weight_type type) {
    return type == CANOPY_WEIGHT_Q3_K ? 4 : type == CANOPY_WEIGHT_Q6_K ? 32 : 0;
}

static inline float le_half(const uint8_t *p) { return canopy_half_to_float((uint16_t)(p[0] | p[1] << 8)); }

/// Q4_K/Q5_K's packed 6-bit scale and min of sub-block j (32 values).
static inline void scale_min_k4(const uint8_t *s, int j, int16_t *sc, int16_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/// The value layouts are those of ggml's dequantize_row_qN_K (see Dequantize+KQuants.swift).
/// The reference unpack; the x86 paths use it for Q2_K and Q3_K (kquants_x86.h has the
/// hand-vectorized Q4_K, Q5_K and Q6_K).
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

typedef struct kquant_plan {
    canopy_weight_type type;
    const uint8_t *weights;
    int64_t rows, row_bytes, tokens, blocks;
    const uint8_t *x;  // tokens rows of `blocks` Q8_K blocks
    float *y;
    int64_t y_stride;
    int64_t tasks;
    int simd;  // the canopy_isa to run at
} kquant_plan;

// MARK: the multi-token SIMD paths (kquants_avx2.c, kquants_avx512.c)

enum { kq_tile = 16, kq_row_group = 8, kq_q8k_bytes = 292 };

/// A kblock plus what the integer kernels want per block rather than per token.
typedef struct kblock_wide {
    kblock k;
    /// The scale of each int16 maddubs lane: lane k (values 2k, 2k + 1) has sc[k / 8], so
    /// 512-bit vector c covers groups 4c..4c+3 and 256-bit vector c groups 2c, 2c+1.
    int16_t scv[128];
    int16_t bias[16];  // −offset · sc[g], which multiplies bsum_g
} kblock_wide;

/// Per 16-token tile and block, the activation side of the tile as vectors across tokens:
/// dx, and the bsums transposed so that word q (bsum 2q and 2q + 1) of the 16 tokens is
/// one vector. Padding tokens are zero.
typedef struct kq_xside {
    float dx[16];
    int32_t bs[8][16];
} kq_xside;

/// Whether the type has mins (Q3_K and Q6_K have an offset instead).
static inline int kblock_has_mins(canopy_weight_type type) {
    return type == CANOPY_WEIGHT_Q2_K || type == CANOPY_WEIGHT_Q4_K || type == CANOPY_WEIGHT_Q5_K;
}

/// Word q of an int16 array: the pair (a[2q], a[2q + 1]) as madd / vpdpwssd lanes read it.
static inline int32_t kq_pair_word(const int16_t *a, int q) {
    int32_t w;
    memcpy(&w, a + 2 * q, 4);
    return w;
}

/// The activation sides of `tiles` tiles of the plan's tokens.
void canopy_kquant_build_side(const kquant_plan *p, int64_t tiles, kq_xside *side);

#if defined(__x86_64__)
/// Rows r0..<r1 of the plan with AVX2, the same bits as block_sums_scalar.
void canopy_kquant_rows_avx2(const kquant_plan *p, int64_t r0, int64_t r1);
/// Rows r0..<r1 of the plan with AVX-512 BW + VNNI, the same bits as block_sums_scalar.
void canopy_kquant_rows_avx512(const kquant_plan *p, int64_t r0, int64_t r1);
#endif

#endif
