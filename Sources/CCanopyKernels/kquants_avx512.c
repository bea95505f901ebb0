// The AVX-512 (BW + VNNI, 512-bit) K-quant path. It computes the integer sums of kquants.c
// exactly and then the same float steps, so its results are bit for bit those of the scalar
// and AVX2 levels. Where its speed comes from:
// - a tile of 16 tokens (tails: 4) shares each unpacked block: the block's bytes and scales
//   are loaded once, and the tile's 16 per-token accumulators are reduced by one
//   transposing add tree rather than 16 horizontal sums;
// - u·x products go through maddubs, and the per-16-value scales through vpdpwssd, which
//   multiplies and accumulates in one instruction;
// - the offset and min terms (bsums) and the float update run across the tile's tokens in
//   one vector: the update is the same IEEE multiply, subtract and add per lane as the
//   scalar code (the target is built with -ffp-contract=off, so nothing is fused);
// - rows are unpacked in groups of 8 and the blocks walked outermost per tile, so a
//   tile's activations stay in L1 while the group's rows use them.
#if defined(__x86_64__)
#include "kquants_x86.h"

#include <immintrin.h>
#include <string.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"))), apply_to = function)

#define INLINE static inline __attribute__((always_inline))

static const int16_t lane_group[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                       2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};

/// scv and bias from the 16 scales (kept in a register: reloading scales just written as
/// int16 stalls on store forwarding).
INLINE void derive_scales(__m256i sc, int32_t offset, kblock_wide *kb) {
    const __m512i sc512 = _mm512_zextsi256_si512(sc);
    for (int c = 0; c < 4; c++) {
        const __m512i idx = _mm512_add_epi16(_mm512_loadu_si512(lane_group), _mm512_set1_epi16((short)(4 * c)));
        _mm512_storeu_si512(kb->scv + 32 * c, _mm512_permutexvar_epi16(idx, sc512));
    }
    _mm256_storeu_si256((__m256i *)kb->bias, _mm256_mullo_epi16(sc, _mm256_set1_epi16((short)-offset)));
}

/// Unpacks one block; Q2_K and Q3_K (through the portable unpack) still need derive_scales,
/// in a later pass over the group, once their int16 scale stores have retired.
INLINE void unpack512(canopy_weight_type type, const uint8_t *p, kblock_wide *kb) {
    switch (type) {
    case CANOPY_WEIGHT_Q4_K: derive_scales(kq_unpack_q45(0, p, &kb->k), 0, kb); break;
    case CANOPY_WEIGHT_Q5_K: derive_scales(kq_unpack_q45(1, p, &kb->k), 0, kb); break;
    case CANOPY_WEIGHT_Q6_K: derive_scales(kq_unpack_q6(p, &kb->k), 32, kb); break;
    default: unpack_kblock(type, p, &kb->k); break;
    }
}

/// acc[t] = 16 lanes summing to Σ_g sc[g] · Σ_{i∈g} u_i x_i for token t of the tile, whose
/// Q8_K block is at x + min(t, n − 1) · xs (tokens past n repeat the last; they are dropped).
INLINE void dots(const int T, const kblock_wide *kb, const uint8_t *x, int64_t xs, int n, __m512i *acc) {
    // Fully unrolled, or the 16 accumulators live on the stack.
#pragma clang loop unroll(full)
    for (int c = 0; c < 4; c++) {
        const __m512i u = _mm512_load_si512(kb->k.u + 64 * c);
        const __m512i s = _mm512_loadu_si512(kb->scv + 32 * c);
#pragma clang loop unroll(full)
        for (int t = 0; t < T; t++) {
            const uint8_t *xt = x + (t < n ? t : n - 1) * xs + 4 + 64 * c;
            // u ≤ 63 and |x| ≤ 128 keep maddubs' pair sums (≤ 16128) inside int16.
            const __m512i pairs = _mm512_maddubs_epi16(u, _mm512_loadu_si512(xt));
            acc[t] = c == 0 ? _mm512_madd_epi16(pairs, s) : _mm512_dpwssd_epi32(acc[t], pairs, s);
        }
    }
}

/// Per 128-bit segment: a and b, two tokens' lanes, folded to [a, b, a, b] partial sums.
INLINE __m512i fold2(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
}

/// Two fold2 results to one segment per four tokens: [t0, t1, t2, t3] partials per segment.
INLINE __m512i fold4(__m512i ab, __m512i cd) {
    return _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
}

/// Segments (0 + 1, 2 + 3) of a, then of b.
INLINE __m512i fold_segments(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_shuffle_i32x4(a, b, 0x88), _mm512_shuffle_i32x4(a, b, 0xDD));
}

/// Lane t = Σ lanes of acc[t], for 16 tokens.
INLINE __m512i reduce16(const __m512i *acc) {
    __m512i f[4];
#pragma clang loop unroll(full)
    for (int j = 0; j < 4; j++)
        f[j] = fold4(fold2(acc[4 * j], acc[4 * j + 1]), fold2(acc[4 * j + 2], acc[4 * j + 3]));
    return fold_segments(fold_segments(f[0], f[1]), fold_segments(f[2], f[3]));
}

/// Lane t = Σ lanes of acc[t], for 4 tokens.
INLINE __m128i reduce4(const __m512i *acc) {
    const __m512i f = fold4(fold2(acc[0], acc[1]), fold2(acc[2], acc[3]));
    const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(f), _mm512_extracti64x4_epi64(f, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/// Rows g0..<g0 + G (unpacked in w) for the tile's 16 tokens from t0.
INLINE void tile16(canopy_weight_type type, const kquant_plan *p, const kblock_wide *w, int G, int64_t g0,
                   const kq_xside *side, int64_t t0) {
    const int64_t blocks = p->blocks, xs = blocks * kq_q8k_bytes;
    const int32_t offset = kblock_offset(type);
    const int mins = kblock_has_mins(type);
    __m512 sum[kq_row_group];
    for (int r = 0; r < G; r++) sum[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < blocks; b++) {
        const kq_xside *sd = &side[b];
        const uint8_t *xb = p->x + t0 * xs + b * kq_q8k_bytes;
        const __m512 dx = _mm512_loadu_ps(sd->dx);
        for (int r = 0; r < G; r++) {
            const kblock_wide *kb = &w[r * blocks + b];
            __m512i acc[kq_tile];
            dots(kq_tile, kb, xb, xs, kq_tile, acc);
            __m512i isum = reduce16(acc), msum = _mm512_setzero_si512();
            for (int q = 0; q < 8; q++) {
                const __m512i bs = _mm512_loadu_si512(sd->bs[q]);
                if (offset) isum = _mm512_dpwssd_epi32(isum, bs, _mm512_set1_epi32(kq_pair_word(kb->bias, q)));
                if (mins) msum = _mm512_dpwssd_epi32(msum, bs, _mm512_set1_epi32(kq_pair_word(kb->k.mn, q)));
            }
            const __m512 a = _mm512_mul_ps(_mm512_mul_ps(dx, _mm512_set1_ps(kb->k.d)), _mm512_cvtepi32_ps(isum));
            const __m512 m = _mm512_mul_ps(_mm512_mul_ps(dx, _mm512_set1_ps(kb->k.dmin)), _mm512_cvtepi32_ps(msum));
            sum[r] = _mm512_add_ps(sum[r], _mm512_sub_ps(a, m));
        }
    }
    for (int r = 0; r < G; r++) {
        float out[kq_tile];
        _mm512_storeu_ps(out, sum[r]);
        for (int t = 0; t < kq_tile; t++) p->y[(t0 + t) * p->y_stride + g0 + r] = out[t];
    }
}

/// The same for n ≤ 4 tokens from t0 = tile start + o (the last, partial tile).
INLINE void tile4(canopy_weight_type type, const kquant_plan *p, const kblock_wide *w, int G, int64_t g0,
                  const kq_xside *side, int64_t t0, int o, int n) {
    const int64_t blocks = p->blocks, xs = blocks * kq_q8k_bytes;
    const int32_t offset = kblock_offset(type);
    const int mins = kblock_has_mins(type);
    __m128 sum[kq_row_group];
    for (int r = 0; r < G; r++) sum[r] = _mm_setzero_ps();
    for (int64_t b = 0; b < blocks; b++) {
        const kq_xside *sd = &side[b];
        const uint8_t *xb = p->x + t0 * xs + b * kq_q8k_bytes;
        const __m128 dx = _mm_loadu_ps(sd->dx + o);
        for (int r = 0; r < G; r++) {
            const kblock_wide *kb = &w[r * blocks + b];
            __m512i acc[4];
            dots(4, kb, xb, xs, n, acc);
            __m128i isum = reduce4(acc), msum = _mm_setzero_si128();
            for (int q = 0; q < 8; q++) {
                const __m128i bs = _mm_loadu_si128((const __m128i *)(sd->bs[q] + o));
                if (offset) isum = _mm_dpwssd_epi32(isum, bs, _mm_set1_epi32(kq_pair_word(kb->bias, q)));
                if (mins) msum = _mm_dpwssd_epi32(msum, bs, _mm_set1_epi32(kq_pair_word(kb->k.mn, q)));
            }
            const __m128 a = _mm_mul_ps(_mm_mul_ps(dx, _mm_set1_ps(kb->k.d)), _mm_cvtepi32_ps(isum));
            const __m128 m = _mm_mul_ps(_mm_mul_ps(dx, _mm_set1_ps(kb->k.dmin)), _mm_cvtepi32_ps(msum));
            sum[r] = _mm_add_ps(sum[r], _mm_sub_ps(a, m));
        }
    }
    for (int r = 0; r < G; r++) {
        float out[4];
        _mm_storeu_ps(out, sum[r]);
        for (int t = 0; t < n; t++) p->y[(t0 + t) * p->y_stride + g0 + r] = out[t];
    }
}

/// One token (decode): plain horizontal sums and the scalar float update.
INLINE void one_token(canopy_weight_type type, const kquant_plan *p, const kblock_wide *w, int G, int64_t g0) {
    const int64_t blocks = p->blocks;
    const int32_t offset = kblock_offset(type);
    const int mins = kblock_has_mins(type);
    for (int r = 0; r < G; r++) {
        float sum = 0;
        for (int64_t b = 0; b < blocks; b++) {
            const kblock_wide *kb = &w[r * blocks + b];
            const uint8_t *xb = p->x + b * kq_q8k_bytes;
            __m512i acc;
            dots(1, kb, xb, 0, 1, &acc);
            const __m256i bs = _mm256_loadu_si256((const __m256i *)(xb + 260));
            if (offset) {
                const __m256i bias = _mm256_loadu_si256((const __m256i *)kb->bias);
                acc = _mm512_add_epi32(acc, _mm512_zextsi256_si512(_mm256_madd_epi16(bs, bias)));
            }
            const int32_t isum = _mm512_reduce_add_epi32(acc);
            int32_t msum = 0;
            if (mins) {
                const __m256i mn = _mm256_loadu_si256((const __m256i *)kb->k.mn);
                msum = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(_mm256_madd_epi16(bs, mn)));
            }
            float dx;
            memcpy(&dx, xb, 4);
            sum += (dx * kb->k.d) * (float)isum - (dx * kb->k.dmin) * (float)msum;
        }
        p->y[g0 + r] = sum;
    }
}

INLINE void rows_of_type(canopy_weight_type type, const kquant_plan *p, int64_t r0, int64_t r1) {
    const int64_t blocks = p->blocks, tokens = p->tokens, bb = kblock_bytes(type);
    const int32_t offset = kblock_offset(type);
    const int64_t tiles = tokens > 1 ? (tokens + kq_tile - 1) / kq_tile : 0;
    const size_t wbytes = (size_t)(kq_row_group * blocks) * sizeof(kblock_wide);
    uint8_t *scratch = canopy_thread_scratch(wbytes + (size_t)(tiles * blocks) * sizeof(kq_xside));
    if (!scratch) return;  // counted; the pass fails
    kblock_wide *w = (kblock_wide *)scratch;
    kq_xside *side = (kq_xside *)(scratch + wbytes);
    canopy_kquant_build_side(p, tiles, side);
    for (int64_t g0 = r0; g0 < r1; g0 += kq_row_group) {
        const int G = r1 - g0 < kq_row_group ? (int)(r1 - g0) : kq_row_group;
        for (int r = 0; r < G; r++) {
            const uint8_t *row = p->weights + (g0 + r) * p->row_bytes;
            for (int64_t b = 0; b < blocks; b++) unpack512(type, row + b * bb, &w[r * blocks + b]);
        }
        if (type == CANOPY_WEIGHT_Q2_K || type == CANOPY_WEIGHT_Q3_K) {
            for (int64_t i = 0; i < G * blocks; i++)
                derive_scales(_mm256_loadu_si256((const __m256i *)w[i].k.sc), offset, &w[i]);
        }
        if (tokens == 1) {
            one_token(type, p, w, G, g0);
            continue;
        }
        for (int64_t k = 0; k < tiles; k++) {
            const int64_t t0 = k * kq_tile;
            const int n = tokens - t0 < kq_tile ? (int)(tokens - t0) : kq_tile;
            if (n == kq_tile) {
                tile16(type, p, w, G, g0, side + k * blocks, t0);
            } else {
                for (int o = 0; o < n; o += 4)
                    tile4(type, p, w, G, g0, side + k * blocks, t0 + o, o, n - o < 4 ? n - o : 4);
            }
        }
    }
}

/// One copy of the loops per type, so the type's offset and min tests fold away.
void canopy_kquant_rows_avx512(const kquant_plan *p, int64_t r0, int64_t r1) {
    switch (p->type) {
    case CANOPY_WEIGHT_Q2_K: rows_of_type(CANOPY_WEIGHT_Q2_K, p, r0, r1); break;
    case CANOPY_WEIGHT_Q3_K: rows_of_type(CANOPY_WEIGHT_Q3_K, p, r0, r1); break;
    case CANOPY_WEIGHT_Q4_K: rows_of_type(CANOPY_WEIGHT_Q4_K, p, r0, r1); break;
    case CANOPY_WEIGHT_Q5_K: rows_of_type(CANOPY_WEIGHT_Q5_K, p, r0, r1); break;
    case CANOPY_WEIGHT_Q6_K: rows_of_type(CANOPY_WEIGHT_Q6_K, p, r0, r1); break;
    default: break;
    }
}

#pragma clang attribute pop
#endif
