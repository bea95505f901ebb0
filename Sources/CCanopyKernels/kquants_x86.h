// Hand-vectorized K-quant unpacking for the x86 paths (AVX2 instructions, so the AVX2 and
// AVX-512 files both inline them): the same kblock values as the portable unpack_kblock,
// which the compiler vectorizes poorly for these layouts (variable shifts, scalar 6-bit
// scale extraction). Each returns the block's 16 int16 scales in a register, so callers
// derive their scale vectors without reloading what was just stored as int16 (a store
// forwarding stall).
#ifndef CANOPY_KQUANTS_X86_H
#define CANOPY_KQUANTS_X86_H
#if defined(__x86_64__)
#include "kquants_internal.h"

#include <immintrin.h>

#define KQ_AVX2 static inline __attribute__((always_inline, target("avx2,fma,f16c")))

/// Eight bytes, each widened to two equal int16 (one scale per 32 values → per 16).
KQ_AVX2 __m256i kq_widen_pairs(uint64_t bytes) {
    const __m128i w = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)bytes));
    return _mm256_set_m128i(_mm_unpackhi_epi16(w, w), _mm_unpacklo_epi16(w, w));
}

/// Q4_K / Q5_K: the eight 6-bit scales (byte j of *sc8: sub-block j) and mins (*mn8) come
/// out of the three 32-bit words of the packed 12 bytes at p + 4 with byte-wise masks
/// (scale_min_k4 for all eight sub-blocks at once).
KQ_AVX2 void kq_scales_mins_k4(const uint8_t *p, uint64_t *sc8, uint64_t *mn8) {
    uint32_t w0, w1, w2;
    memcpy(&w0, p + 4, 4);
    memcpy(&w1, p + 8, 4);
    memcpy(&w2, p + 12, 4);
    const uint32_t low6 = 0x3F3F3F3F, low4 = 0x0F0F0F0F, low2 = 0x03030303;
    *sc8 = (w0 & low6) | (uint64_t)((w2 & low4) | (((w0 >> 6) & low2) << 4)) << 32;
    *mn8 = (w1 & low6) | (uint64_t)(((w2 >> 4) & low4) | (((w1 >> 6) & low2) << 4)) << 32;
}

/// Q4_K / Q5_K unpacked to `k`; returns the 16 int16 scales.
KQ_AVX2 __m256i kq_unpack_q45(const int five, const uint8_t *p, kblock *k) {
    k->d = le_half(p);
    k->dmin = le_half(p + 2);
    uint64_t sc8, mn8;
    kq_scales_mins_k4(p, &sc8, &mn8);
    const __m256i sc = kq_widen_pairs(sc8);
    _mm256_storeu_si256((__m256i *)k->sc, sc);
    _mm256_storeu_si256((__m256i *)k->mn, kq_widen_pairs(mn8));
    const uint8_t *qs = p + (five ? 48 : 16);
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const __m256i qh = five ? _mm256_loadu_si256((const __m256i *)(p + 16)) : _mm256_setzero_si256();
    for (int i = 0; i < 4; i++) {
        // Sub-block 2i is the low nibbles of qs[32i..], 2i + 1 the high ones; Q5_K adds bit
        // 2i (2i + 1) of qh as bit 4. 16-bit shifts are fine: the masks drop what crosses bytes.
        const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * i));
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (five) {
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * i), one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * i + 1), one), 4));
        }
        _mm256_store_si256((__m256i *)(k->u + 64 * i), lo);
        _mm256_store_si256((__m256i *)(k->u + 64 * i + 32), hi);
    }
    return sc;
}

/// Q6_K: values 128h + 32s + l (s = 0..3, l = 0..31) of the block at p, as u[s]: value
/// 128h + 32s + l has nibble s >> 1 of ql[64h + 32(s & 1) + l] and, as bits 4-5, bits 2s,
/// 2s + 1 of qh[32h + l].
KQ_AVX2 void kq_q6_half(const uint8_t *p, int h, __m256i u[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    const __m256i qa = _mm256_loadu_si256((const __m256i *)(p + 64 * h));
    const __m256i qb = _mm256_loadu_si256((const __m256i *)(p + 64 * h + 32));
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 128 + 32 * h));
    // Bits (2s, 2s + 1) to (4, 5) with 16-bit shifts; the 0x30 mask drops what crosses bytes.
    u[0] = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
    u[1] = _mm256_or_si256(_mm256_and_si256(qb, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
    u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4), _mm256_and_si256(qh, m30));
    u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
}

/// Q6_K unpacked to `k` (u = q + 32); returns the 16 int16 scales.
KQ_AVX2 __m256i kq_unpack_q6(const uint8_t *p, kblock *k) {
    k->d = le_half(p + 208);
    k->dmin = 0;
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 192)));
    _mm256_storeu_si256((__m256i *)k->sc, sc);
    _mm256_storeu_si256((__m256i *)k->mn, _mm256_setzero_si256());
    for (int h = 0; h < 2; h++) {
        __m256i u[4];
        kq_q6_half(p, h, u);
        for (int s = 0; s < 4; s++) _mm256_store_si256((__m256i *)(k->u + 128 * h + 32 * s), u[s]);
    }
    return sc;
}

#endif
#endif
