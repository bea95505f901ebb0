// Q4_1 weights: the 8-row interleaved copy, and the x86 kernels of Q4_1's canonical
// arithmetic (spelled out by `dot_q4_1_scalar` in gemm.c, documented in canopy_kernels.h).
//
// Why Q4_1 has its own arithmetic: the other types' (8 float lanes of 4 products per block)
// costs every (row, token, block) a vpmaddubsw, a vpmaddwd, a convert and an fma, and on a
// CPU without VNNI a step of a few tokens is bound by those multiplies. Q4_1's keeps each
// block's 32 products an exact int32 and spends one convert and one fma per block; with 8
// rows side by side, one vpmaddubsw serves 8 rows and 8 of them add up in int16, so one
// vpmaddwd, one convert and two fmas finish a block of 8 rows. Measured on a 2-core AVX2
// Zen 3 (bench/results/2026-12-06-de39f85-kernel-layout.md): 1.48x the 8-lane kernel at 1
// token, 2.0-2.3x at 2-32 tokens.
//
// Both kernels here (interleaved, and row-major for matrices without a copy: every Q4_1
// matrix under --weight-memory, row counts not a multiple of 8) compute the same bits as the
// scalar reference. The AVX-512 VNNI level runs them too, so every level agrees.
#include "gemm_internal.h"
#include "half.h"

#include <string.h>

/// Bytes of one interleaved block of 8 rows: f16 d[8], f16 m[8], 4 registers of 32 bytes.
enum { GROUP_BLOCK = 160, TOKEN_TILE = 64 };

/// Most tokens one interleaved tile runs: a verification window of 1 + 8 proposals (9
/// tokens) in one tile instead of two (5 + 4) measured 15-20 % faster (kernel-layout bench,
/// alternated with tiles of at most 8: 8.27 / 7.03 / 7.30 vs 10.80 / 8.78 / 8.62 ms), 8
/// tokens and fewer alike.
#define TILE_MAX 12

int canopy_q4_1_interleave(const void *rows, int64_t row_count, int64_t cols, void *out) {
    if (row_count % 8 != 0 || cols % 32 != 0) return -1;
    const int64_t blocks = cols / 32;
    const uint8_t *in = rows;
    uint8_t *o = out;
    for (int64_t g = 0; g < row_count / 8; g++) {
        for (int64_t b = 0; b < blocks; b++, o += GROUP_BLOCK) {
            for (int i = 0; i < 8; i++) {
                const uint8_t *block = in + ((g * 8 + i) * blocks + b) * canopy_block_bytes(CANOPY_WEIGHT_Q4_1);
                memcpy(o + 2 * i, block, 2);
                memcpy(o + 16 + 2 * i, block + 2, 2);
                // Register k holds nibble bytes 4k..4k+3 of every row: values 4k..4k+3 in its
                // low nibbles, 16+4k..16+4k+3 in its high ones.
                for (int k = 0; k < 4; k++) memcpy(o + 32 + 32 * k + 4 * i, block + 4 + 4 * k, 4);
            }
        }
    }
    return 0;
}

void canopy_q4_1_interleaved_block(const void *interleaved, int64_t cols, int64_t r, int64_t b, uint8_t out[20]) {
    const uint8_t *p = (const uint8_t *)interleaved + ((r / 8) * (cols / 32) + b) * GROUP_BLOCK;
    const int i = (int)(r % 8);
    memcpy(out, p + 2 * i, 2);
    memcpy(out + 2, p + 16 + 2 * i, 2);
    for (int k = 0; k < 4; k++) memcpy(out + 4 + 4 * k, p + 32 + 32 * k + 4 * i, 4);
}

#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define KERNEL_NAME(name) name##_q4_1_
#include "gemm_groups_x86.inc"

/// ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)) of eight vectors, lane by lane.
static inline __attribute__((always_inline)) __m256 sum8(const __m256 l[8]) {
    return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(l[0], l[4]), _mm256_add_ps(l[2], l[6])),
                         _mm256_add_ps(_mm256_add_ps(l[1], l[5]), _mm256_add_ps(l[3], l[7])));
}

/// The same sum of eight double vectors, lane by lane (a grouped job's lane totals).
static inline __attribute__((always_inline)) __m256d sum8d(const __m256d l[8]) {
    return _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(l[0], l[4]), _mm256_add_pd(l[2], l[6])),
                         _mm256_add_pd(_mm256_add_pd(l[1], l[5]), _mm256_add_pd(l[3], l[7])));
}

// MARK: interleaved

/// Block b of rows 8g..8g+7 (at `blk`) against tokens t0..<t0+T, into lane l of `acc` and
/// `mins`. FIRST: the lane's first block of its column group, whose fmas add to 0 (the
/// same bits as adding to a zeroed accumulator, without storing the zeros: the arrays live
/// on the stack, and zeroing them cost a memset per tile).
static inline __attribute__((always_inline)) void interleaved_block(
    const int T, const int FIRST, const uint8_t *blk, const canopy_q8_rows *x, int64_t t0, int64_t b, int l,
    __m256 acc[TILE_MAX][8], __m256 mins[TILE_MAX][8]) {
    const int64_t pb = x->padded_blocks;
    const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
    const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16)));
    __m256i sum[TILE_MAX];
    for (int t = 0; t < T; t++) sum[t] = _mm256_setzero_si256();
    for (int k = 0; k < 4; k++) {
        const __m256i packed = _mm256_loadu_si256((const __m256i *)(blk + 32 + 32 * k));
        const __m256i lo = _mm256_and_si256(packed, low);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
        for (int t = 0; t < T; t++) {
            const int8_t *xq = x->qs + (t0 + t) * x->cols + 32 * b + 4 * k;
            int32_t a, c;
            memcpy(&a, xq, 4);
            memcpy(&c, xq + 16, 4);
            // Two products per row and register; 8 such add up to at most
            // 8 x 2 x 15 x 127 = 30480, so int16 does not overflow.
            sum[t] = _mm256_add_epi16(sum[t], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(a)));
            sum[t] = _mm256_add_epi16(sum[t], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(c)));
        }
    }
    for (int t = 0; t < T; t++) {
        const __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(sum[t], ones));
        const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(x->d[(t0 + t) * pb + b]));
        const __m256 sx = _mm256_set1_ps(x->s[(t0 + t) * pb + b]);
        acc[t][l] = _mm256_fmadd_ps(f, scale, FIRST ? _mm256_setzero_ps() : acc[t][l]);
        mins[t][l] = _mm256_fmadd_ps(mw, sx, FIRST ? _mm256_setzero_ps() : mins[t][l]);
    }
}

/// Rows 8g..8g+7 against tokens t0..<t0+T (T <= TILE_MAX). acc[t][l] and mins[t][l] hold lane l
/// (block mod 8 within the group) of 8 rows, a row per vector lane.
static inline __attribute__((always_inline)) void interleaved_tile(
    const int T, const int GROUPED, const canopy_gemm_job *job, const canopy_q8_rows *x, int64_t g, int64_t t0) {
    const int64_t blocks = x->blocks;
    const int64_t group = GROUPED ? job->group_blocks : blocks;
    const uint8_t *base = (const uint8_t *)job->interleaved + g * blocks * GROUP_BLOCK;
    __m256 acc[TILE_MAX][8], mins[TILE_MAX][8];
    __m256d total[TILE_MAX][2][8];  // grouped: [token][rows 0-3, 4-7][lane]
    for (int64_t g0 = 0; g0 < blocks; g0 += group) {
        const int64_t g1 = g0 + group < blocks ? g0 + group : blocks;
        const int64_t head = g1 - g0 < 8 ? g1 : g0 + 8;
        int64_t b = g0;
        for (; b < head; b++) interleaved_block(T, 1, base + b * GROUP_BLOCK, x, t0, b, (int)(b - g0), acc, mins);
        if (head - g0 < 8)  // lanes no block of this group reaches
            for (int t = 0; t < T; t++)
                for (int l = (int)(head - g0); l < 8; l++) acc[t][l] = mins[t][l] = _mm256_setzero_ps();
        for (; b < g1; b++) interleaved_block(T, 0, base + b * GROUP_BLOCK, x, t0, b, (int)((b - g0) & 7), acc, mins);
        if (!GROUPED) break;
        for (int t = 0; t < T; t++)
            for (int l = 0; l < 8; l++) {
                const __m256 u = _mm256_add_ps(acc[t][l], mins[t][l]);
                const __m256d u0 = _mm256_cvtps_pd(_mm256_castps256_ps128(u));
                const __m256d u1 = _mm256_cvtps_pd(_mm256_extractf128_ps(u, 1));
                // The first group's lanes start the totals: 0 + u is u, as u is never -0
                // (its chains start from fma(.., .., +0), and round-to-nearest gives -0
                // from a sum only when both terms are -0).
                total[t][0][l] = g0 == 0 ? u0 : _mm256_add_pd(total[t][0][l], u0);
                total[t][1][l] = g0 == 0 ? u1 : _mm256_add_pd(total[t][1][l], u1);
            }
    }
    for (int t = 0; t < T; t++) {
        const int64_t at = (t0 + t) * job->y_stride + 8 * g;
        if (!GROUPED) {
            _mm256_storeu_ps(job->y + at, _mm256_add_ps(sum8(acc[t]), sum8(mins[t])));
            continue;
        }
        double sums[8];
        _mm256_storeu_pd(sums, sum8d(total[t][0]));
        _mm256_storeu_pd(sums + 4, sum8d(total[t][1]));
        for (int i = 0; i < 8; i++) KERNEL_NAME(store)(1, job, at + i, sums[i], 0.0f);
    }
}

static inline __attribute__((always_inline)) void interleaved_rows(
    const int GROUPED, const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1) {
    const int64_t tokens = x->tokens;
    for (int64_t t0 = 0; t0 < tokens; t0 += TOKEN_TILE) {
        const int64_t t1 = t0 + TOKEN_TILE < tokens ? t0 + TOKEN_TILE : tokens;
        for (int64_t g = r0 / 8; g < r1 / 8; g++) {
            // No software prefetch: a group's blocks are one contiguous run, which the
            // hardware prefetcher follows (prefetching the next group measured 3-9 % slower
            // decode on a 2-core Zen 3).
            // Tiles as even as TILE_MAX allows (13 tokens: 7 + 6, not 12 + 1).
            const int64_t count = t1 - t0, tiles = (count + TILE_MAX - 1) / TILE_MAX;
            for (int64_t k = 0; k < tiles; k++) {
                const int64_t t = t0 + count * k / tiles;
                switch (t0 + count * (k + 1) / tiles - t) {
                case 1: interleaved_tile(1, GROUPED, job, x, g, t); break;
                case 2: interleaved_tile(2, GROUPED, job, x, g, t); break;
                case 3: interleaved_tile(3, GROUPED, job, x, g, t); break;
                case 4: interleaved_tile(4, GROUPED, job, x, g, t); break;
                case 5: interleaved_tile(5, GROUPED, job, x, g, t); break;
                case 6: interleaved_tile(6, GROUPED, job, x, g, t); break;
                case 7: interleaved_tile(7, GROUPED, job, x, g, t); break;
                case 8: interleaved_tile(8, GROUPED, job, x, g, t); break;
                case 9: interleaved_tile(9, GROUPED, job, x, g, t); break;
                case 10: interleaved_tile(10, GROUPED, job, x, g, t); break;
                case 11: interleaved_tile(11, GROUPED, job, x, g, t); break;
                default: interleaved_tile(12, GROUPED, job, x, g, t); break;
                }
            }
        }
    }
}

// MARK: row-major

/// The 32 values of a Q4_1 block in activation order (value v < 16 the low nibble of byte
/// v, else the high nibble of byte v - 16).
static inline __attribute__((always_inline)) __m256i unpack(const uint8_t *block) {
    const __m128i bytes = _mm_loadu_si128((const __m128i *)(block + 4)), low = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), low), _mm_and_si128(bytes, low));
}

/// Blocks b0..<b0+n (n <= 8) of `row` against tokens t0..<t0+T: their int16 pair sums
/// reduced by a vphaddw tree to one register of eight block sums (lane k = block b0 + k), so
/// one convert and two fmas finish eight blocks. FULL: n == 8 and b0 + 8 <= padded_blocks.
/// Lanes past n get zero weights (and zero scales where eight would read past the padded
/// scales; the padding and a next column group's scales are finite), which leave the
/// accumulators unchanged.
static inline __attribute__((always_inline)) void row_blocks(
    const int FULL, const int T, const uint8_t *row, const canopy_q8_rows *x, int64_t t0, int64_t b0, int n,
    __m256 *acc, __m256 *mins) {
    const int64_t pb = x->padded_blocks;
    __m256i w[8];
    uint16_t dh[8] = {0}, mh[8] = {0};
    for (int k = 0; k < 8; k++) {
        if (FULL || k < n) {
            const uint8_t *block = row + (b0 + k) * canopy_block_bytes(CANOPY_WEIGHT_Q4_1);
            w[k] = unpack(block);
            memcpy(&dh[k], block, 2);
            memcpy(&mh[k], block + 2, 2);
        } else {
            w[k] = _mm256_setzero_si256();
        }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dh));
    const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)mh));
    for (int t = 0; t < T; t++) {
        const int8_t *xq = x->qs + (t0 + t) * x->cols + 32 * b0;
        __m256i p[8];
        for (int k = 0; k < 8; k++) {
            p[k] = FULL || k < n ? _mm256_maddubs_epi16(w[k], _mm256_loadu_si256((const __m256i *)(xq + 32 * k)))
                                 : _mm256_setzero_si256();
        }
        // Each 128-bit half ends with one int16 per block (|x| <= 30480).
        const __m256i h01 = _mm256_hadd_epi16(p[0], p[1]), h23 = _mm256_hadd_epi16(p[2], p[3]);
        const __m256i h45 = _mm256_hadd_epi16(p[4], p[5]), h67 = _mm256_hadd_epi16(p[6], p[7]);
        const __m256i h = _mm256_hadd_epi16(_mm256_hadd_epi16(h01, h23), _mm256_hadd_epi16(h45, h67));
        const __m256i sums = _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(h)),
                                              _mm256_cvtepi16_epi32(_mm256_extracti128_si256(h, 1)));
        __m256 xd, xs;
        if (FULL || b0 + 8 <= pb) {
            xd = _mm256_loadu_ps(x->d + (t0 + t) * pb + b0);
            xs = _mm256_loadu_ps(x->s + (t0 + t) * pb + b0);
        } else {
            float d[8] = {0}, m[8] = {0};
            for (int k = 0; k < n; k++) {
                d[k] = x->d[(t0 + t) * pb + b0 + k];
                m[k] = x->s[(t0 + t) * pb + b0 + k];
            }
            xd = _mm256_loadu_ps(d);
            xs = _mm256_loadu_ps(m);
        }
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(dw, xd), acc[t]);
        mins[t] = _mm256_fmadd_ps(mw, xs, mins[t]);
    }
}

/// Row `r` against tokens t0..<t0+T (T <= 4), eight blocks at a time (lane = block mod 8
/// within the column group).
static inline __attribute__((always_inline)) void row_tile(
    const int T, const int GROUPED, const canopy_gemm_job *job, const canopy_q8_rows *x, int64_t r, int64_t t0) {
    const int64_t blocks = x->blocks, pb = x->padded_blocks;
    const int64_t group = GROUPED ? job->group_blocks : blocks;
    const uint8_t *row = (const uint8_t *)job->weights + r * job->row_bytes;
    __m256 acc[4], mins[4];
    __m256d total[4][2];
    for (int t = 0; t < T; t++) total[t][0] = total[t][1] = _mm256_setzero_pd();
    for (int64_t g0 = 0; g0 < blocks; g0 += group) {
        const int64_t g1 = g0 + group < blocks ? g0 + group : blocks;
        for (int t = 0; t < T; t++) acc[t] = mins[t] = _mm256_setzero_ps();
        for (int64_t b0 = g0; b0 < g1; b0 += 8) {
            const int n = g1 - b0 < 8 ? (int)(g1 - b0) : 8;
            if (n == 8 && b0 + 8 <= pb) row_blocks(1, T, row, x, t0, b0, 8, acc, mins);
            else row_blocks(0, T, row, x, t0, b0, n, acc, mins);
        }
        if (!GROUPED) break;
        for (int t = 0; t < T; t++) {
            const __m256 u = _mm256_add_ps(acc[t], mins[t]);
            total[t][0] = _mm256_add_pd(total[t][0], _mm256_cvtps_pd(_mm256_castps256_ps128(u)));
            total[t][1] = _mm256_add_pd(total[t][1], _mm256_cvtps_pd(_mm256_extractf128_ps(u, 1)));
        }
    }
    for (int t = 0; t < T; t++) {
        const int64_t at = (t0 + t) * job->y_stride + r;
        KERNEL_NAME(store)(GROUPED, job, at, GROUPED ? KERNEL_NAME(hsum_totals)(total[t][0], total[t][1]) : 0.0,
                           GROUPED ? 0.0f : KERNEL_NAME(hsum)(acc[t]) + KERNEL_NAME(hsum)(mins[t]));
    }
}

static inline __attribute__((always_inline)) void row_major_rows(
    const int GROUPED, const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1) {
    const int64_t tokens = x->tokens;
    for (int64_t r = r0; r < r1; r++) {
        int64_t t = 0;
        for (; t + 4 <= tokens; t += 4) row_tile(4, GROUPED, job, x, r, t);
        switch (tokens - t) {
        case 1: row_tile(1, GROUPED, job, x, r, t); break;
        case 2: row_tile(2, GROUPED, job, x, r, t); break;
        case 3: row_tile(3, GROUPED, job, x, r, t); break;
        default: break;
        }
    }
}

void canopy_gemm_rows_q4_1_avx2(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1) {
    const int grouped = job->group_blocks > 0;
    if (job->interleaved) {
        if (grouped) interleaved_rows(1, x, job, r0, r1);
        else interleaved_rows(0, x, job, r0, r1);
    } else {
        if (grouped) row_major_rows(1, x, job, r0, r1);
        else row_major_rows(0, x, job, r0, r1);
    }
}

#undef KERNEL_NAME
#pragma clang attribute pop
#endif
