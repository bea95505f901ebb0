// The AVX2 K-quant path: kquants_avx512.c's structure on 256-bit vectors and 16 registers. Tiles
// of 8 tokens (tails: 4) share each unpacked block and reduce their accumulators with one
// transposing add tree; maddubs + madd give the scaled sums, madd the bsum terms, and the
// float update runs across the tile's tokens with the scalar code's operations and order.
// Same integer sums, same float steps, so the same bits as every other level.
#if defined(__x86_64__)
#include "kquants_x86.h"

#include <immintrin.h>
#include <string.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

#define INLINE static inline __attribute__((always_inline))

/// scv and bias from the block's 16 scales, kept in a register (see kquants_x86.h).
INLINE void derive_scales(__m256i sc, int32_t offset, kblock_wide *kb) {
    // 256-bit vector c: lanes 0-7 take sc[2c] (bytes 0, 1 of word c), lanes 8-15 sc[2c + 1].
    const __m256i spread = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                            2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    for (int c = 0; c < 8; c++) {
        const __m256i word = _mm256_permutevar8x32_epi32(sc, _mm256_set1_epi32(c));
        _mm256_storeu_si256((__m256i *)(kb->scv + 16 * c), _mm256_shuffle_epi8(word, spread));
    }
    _mm256_storeu_si256((__m256i *)kb->bias, _mm256_mullo_epi16(sc, _mm256_set1_epi16((short)-offset)));
}

/// Unpacks one block; Q2_K and Q3_K (through the portable unpack) still need derive_scales,
/// in a later pass over the group, once their int16 scale stores have retired.
INLINE void unpack_wide(canopy_weight_type type, const uint8_t *p, kblock_wide *kb) {
    switch (type) {
    case CANOPY_WEIGHT_Q4_K: derive_scales(kq_unpack_q45(0, p, &kb->k), 0, kb); break;
    case CANOPY_WEIGHT_Q5_K: derive_scales(kq_unpack_q45(1, p, &kb->k), 0, kb); break;
    case CANOPY_WEIGHT_Q6_K: derive_scales(kq_unpack_q6(p, &kb->k), 32, kb); break;
    default: unpack_kblock(type, p, &kb->k); break;
    }
}

/// acc[t] = 8 lanes summing to Σ_g sc[g] · Σ_{i∈g} u_i x_i for token t, whose Q8_K block is
/// at x + min(t, n − 1) · xs (tokens past n repeat the last; their results are dropped).
INLINE void dots(const int T, const kblock_wide *kb, const uint8_t *x, int64_t xs, int n, __m256i *acc) {
#pragma clang loop unroll(full)
    for (int c = 0; c < 8; c++) {
        const __m256i u = _mm256_load_si256((const __m256i *)(kb->k.u + 32 * c));
        const __m256i s = _mm256_loadu_si256((const __m256i *)(kb->scv + 16 * c));
#pragma clang loop unroll(full)
        for (int t = 0; t < T; t++) {
            const uint8_t *xt = x + (t < n ? t : n - 1) * xs + 4 + 32 * c;
            // u ≤ 63 and |x| ≤ 128 keep maddubs' pair sums (≤ 16128) inside int16.
            const __m256i pairs = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)xt));
            const __m256i scaled = _mm256_madd_epi16(pairs, s);
            acc[t] = c == 0 ? scaled : _mm256_add_epi32(acc[t], scaled);
        }
    }
}

/// Per 128-bit half: a, b folded to [a, b, a, b] partial sums.
INLINE __m256i fold2(__m256i a, __m256i b) {
    return _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
}

/// Per 128-bit half: four tokens' partial sums [t0, t1, t2, t3].
INLINE __m256i fold4(const __m256i *acc) {
    const __m256i ab = fold2(acc[0], acc[1]), cd = fold2(acc[2], acc[3]);
    return _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
}

/// Lane t = Σ lanes of acc[t], for 8 tokens.
INLINE __m256i reduce8(const __m256i *acc) {
    const __m256i f0 = fold4(acc), f1 = fold4(acc + 4);
    return _mm256_add_epi32(_mm256_permute2x128_si256(f0, f1, 0x20), _mm256_permute2x128_si256(f0, f1, 0x31));
}

/// Lane t = Σ lanes of acc[t], for 4 tokens.
INLINE __m128i reduce4(const __m256i *acc) {
    const __m256i f = fold4(acc);
    return _mm_add_epi32(_mm256_castsi256_si128(f), _mm256_extracti128_si256(f, 1));
}

/// Rows g0..<g0 + G (unpacked in w) for n ≤ 8 tokens from t0 = tile start + o.
INLINE void tile8(canopy_weight_type type, const kquant_plan *p, const kblock_wide *w, int G, int64_t g0,
                  const kq_xside *side, int64_t t0, int o, int n) {
    const int64_t blocks = p->blocks, xs = blocks * kq_q8k_bytes;
    const int32_t offset = kblock_offset(type);
    const int mins = kblock_has_mins(type);
    __m256 sum[kq_row_group];
    for (int r = 0; r < G; r++) sum[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < blocks; b++) {
        const kq_xside *sd = &side[b];
        const uint8_t *xb = p->x + t0 * xs + b * kq_q8k_bytes;
        const __m256 dx = _mm256_loadu_ps(sd->dx + o);
        for (int r = 0; r < G; r++) {
            const kblock_wide *kb = &w[r * blocks + b];
            __m256i acc[8];
            dots(8, kb, xb, xs, n, acc);
            __m256i isum = reduce8(acc), msum = _mm256_setzero_si256();
            for (int q = 0; q < 8; q++) {
                const __m256i bs = _mm256_loadu_si256((const __m256i *)(sd->bs[q] + o));
                if (offset) isum = _mm256_add_epi32(isum, _mm256_madd_epi16(bs, _mm256_set1_epi32(kq_pair_word(kb->bias, q))));
                if (mins) msum = _mm256_add_epi32(msum, _mm256_madd_epi16(bs, _mm256_set1_epi32(kq_pair_word(kb->k.mn, q))));
            }
            const __m256 a = _mm256_mul_ps(_mm256_mul_ps(dx, _mm256_set1_ps(kb->k.d)), _mm256_cvtepi32_ps(isum));
            const __m256 m = _mm256_mul_ps(_mm256_mul_ps(dx, _mm256_set1_ps(kb->k.dmin)), _mm256_cvtepi32_ps(msum));
            sum[r] = _mm256_add_ps(sum[r], _mm256_sub_ps(a, m));
        }
    }
    for (int r = 0; r < G; r++) {
        float out[8];
        _mm256_storeu_ps(out, sum[r]);
        for (int t = 0; t < n; t++) p->y[(t0 + t) * p->y_stride + g0 + r] = out[t];
    }
}

/// The same for n ≤ 4 tokens.
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
            __m256i acc[4];
            dots(4, kb, xb, xs, n, acc);
            __m128i isum = reduce4(acc), msum = _mm_setzero_si128();
            for (int q = 0; q < 8; q++) {
                const __m128i bs = _mm_loadu_si128((const __m128i *)(sd->bs[q] + o));
                if (offset) isum = _mm_add_epi32(isum, _mm_madd_epi16(bs, _mm_set1_epi32(kq_pair_word(kb->bias, q))));
                if (mins) msum = _mm_add_epi32(msum, _mm_madd_epi16(bs, _mm_set1_epi32(kq_pair_word(kb->k.mn, q))));
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

INLINE int32_t hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
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
            __m256i acc;
            dots(1, kb, xb, 0, 1, &acc);
            const __m256i bs = _mm256_loadu_si256((const __m256i *)(xb + 260));
            if (offset) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(bs, _mm256_loadu_si256((const __m256i *)kb->bias)));
            const int32_t isum = hsum(acc);
            const int32_t msum = mins ? hsum(_mm256_madd_epi16(bs, _mm256_loadu_si256((const __m256i *)kb->k.mn))) : 0;
            float dx;
            memcpy(&dx, xb, 4);
            sum += (dx * kb->k.d) * (float)isum - (dx * kb->k.dmin) * (float)msum;
        }
        p->y[g0 + r] = sum;
    }
}

/// Word k of `v` (both 128-bit halves alike) in every 16-bit lane.
INLINE __m256i broadcast_word(__m256i v, int k) {
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)(((2 * k + 1) << 8) | (2 * k))));
}

/// isum and msum of a packed Q4_K block with one Q8_K block, straight from the packed bytes:
/// the same exact integers as unpack + one_token, without storing the unpacked copy (for a
/// single token the stores and reloads cost more than the dot itself).
INLINE void q4k_sums(const uint8_t *p, const uint8_t *xb, int32_t *isum, int32_t *msum) {
    uint64_t sc8, mn8;
    kq_scales_mins_k4(p, &sc8, &mn8);
    // Word j of each half: the scale of sub-block j.
    const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i acc = _mm256_setzero_si256();
#pragma clang loop unroll(full)
    for (int i = 0; i < 4; i++) {
        // Sub-block 2i: the low nibbles of qs[32i..]; 2i + 1: the high ones.
        const __m256i q = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * i));
        const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        const __m256i xl = _mm256_loadu_si256((const __m256i *)(xb + 4 + 64 * i));
        const __m256i xh = _mm256_loadu_si256((const __m256i *)(xb + 4 + 64 * i + 32));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl), broadcast_word(sc, 2 * i)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh), broadcast_word(sc, 2 * i + 1)));
    }
    *isum = hsum(acc);
    *msum = hsum(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(xb + 260)), kq_widen_pairs(mn8)));
}

/// isum of a packed Q6_K block with one Q8_K block (offset 32 through the bsums), in registers.
INLINE int32_t q6k_isum(const uint8_t *p, const uint8_t *xb) {
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 192)));
    // 32 values c: the low 16 take sc[2c], the high 16 sc[2c + 1] (as derive_scales).
    const __m256i spread = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                            2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    __m256i acc = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(xb + 260)),
                                    _mm256_mullo_epi16(sc, _mm256_set1_epi16(-32)));
#pragma clang loop unroll(full)
    for (int h = 0; h < 2; h++) {
        __m256i u[4];
        kq_q6_half(p, h, u);
#pragma clang loop unroll(full)
        for (int s = 0; s < 4; s++) {
            const int c = 4 * h + s;
            const __m256i scale = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(sc, _mm256_set1_epi32(c)), spread);
            const __m256i x = _mm256_loadu_si256((const __m256i *)(xb + 4 + 32 * c));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u[s], x), scale));
        }
    }
    return hsum(acc);
}

/// One token against packed Q4_K or Q6_K rows: one_token's float steps, integer sums from
/// q4k_sums / q6k_isum, no unpacked copy.
INLINE void one_token_packed(canopy_weight_type type, const kquant_plan *p, int64_t r0, int64_t r1) {
    const int64_t blocks = p->blocks, bb = kblock_bytes(type);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = p->weights + r * p->row_bytes;
        // The row 4 ahead, as gemm_x86.inc's prefetch_ahead: more reads in flight.
        if (r + 4 < r1)
            for (int64_t o = 0; o < p->row_bytes; o += 64) _mm_prefetch((const char *)(row + 4 * p->row_bytes + o), _MM_HINT_T0);
        float sum = 0;
        for (int64_t b = 0; b < blocks; b++) {
            const uint8_t *blk = row + b * bb, *xb = p->x + b * kq_q8k_bytes;
            int32_t isum, msum = 0;
            float d, dmin = 0;
            if (type == CANOPY_WEIGHT_Q4_K) {
                q4k_sums(blk, xb, &isum, &msum);
                d = le_half(blk);
                dmin = le_half(blk + 2);
            } else {
                isum = q6k_isum(blk, xb);
                d = le_half(blk + 208);
            }
            float dx;
            memcpy(&dx, xb, 4);
            sum += (dx * d) * (float)isum - (dx * dmin) * (float)msum;
        }
        p->y[r] = sum;
    }
}

INLINE void rows_of_type(canopy_weight_type type, const kquant_plan *p, int64_t r0, int64_t r1) {
    const int64_t blocks = p->blocks, tokens = p->tokens, bb = kblock_bytes(type);
    if (tokens == 1 && (type == CANOPY_WEIGHT_Q4_K || type == CANOPY_WEIGHT_Q6_K)) {
        one_token_packed(type, p, r0, r1);
        return;
    }
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
            for (int64_t b = 0; b < blocks; b++) unpack_wide(type, row + b * bb, &w[r * blocks + b]);
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
            for (int o = 0; o < n;) {
                if (n - o > 4) {
                    tile8(type, p, w, G, g0, side + k * blocks, t0 + o, o, n - o < 8 ? n - o : 8);
                    o += 8;
                } else {
                    tile4(type, p, w, G, g0, side + k * blocks, t0 + o, o, n - o);
                    o += 4;
                }
            }
        }
    }
}

/// One copy of the loops per type, so the type's offset and min tests fold away.
void canopy_kquant_rows_avx2(const kquant_plan *p, int64_t r0, int64_t r1) {
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
