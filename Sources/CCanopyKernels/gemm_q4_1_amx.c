// Q4_1's canonical arithmetic (spelled out by `dot_q4_1_scalar` in gemm.c) on AMX: the tile
// unit forms each (token, row, block) exact int32, the vector unit does the float work that
// follows it exactly as gemm_q4_1_x86.inc's interleaved kernel does, so the bits are those of
// every other level.
//
// Why: a verification window of n tokens (speculative decoding) or a prefill tile costs the
// AVX-512 VNNI kernel 8 vpdpbusd (and their broadcasts) per token, 8 rows and block, which is
// most of why a window's marginal token cost about 0.4 of a one-token step on a Xeon. One
// tdpbsud forms the 32-product sums of up to 16 tokens x 16 rows of a block; what is left per
// token is a convert and two fmas per 16 rows and block, and the weights' unpacking, shared
// by the tokens. Measured on one thread (1536 x 576, in L2): 9 tokens 1.8x the VNNI kernel,
// 16 tokens 1.6x, 100 tokens 2.0x. In the engine, windows of 2-5 tokens measured no faster on
// AMX, so fewer than CANOPY_AMX_MIN_TOKENS (6) stay on the VNNI kernel.
//
// Layout: rows go in pairs of the interleaved copy's 8-row groups (16 rows). Each block of a
// pair is unpacked into the tile unit's layout for B (8 rows of 64 bytes: row q holds values
// 4q..4q+3 of each of the 16 weight rows, which are the low nibbles of the interleaved
// registers q and the high nibbles of registers q - 4), and the activations' Q8 bytes are
// tile A as they are (a row per token). tdpbsud multiplies signed A bytes by unsigned B bytes,
// so the int32 is Σ x w itself.
//
// Linux hands the tile state to a process only on request (cpu.c asks when it detects AMX;
// the amx level exists only if it was granted); each thread loads its tile configuration per
// call and releases it after.
#if defined(__x86_64__)
#include "gemm_internal.h"
#include <immintrin.h>
#include <string.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,amx-tile,amx-int8"))), apply_to = function)

enum {
    AMX_TILE_TOKENS = 16,  // the most rows (tokens) a tile holds
    B_BYTES = 512,  // one block of 16 rows, unpacked: 8 tile rows x 64 bytes
    UNPACK_AHEAD = 3,  // blocks unpacked ahead of the tile loads
    RING = UNPACK_AHEAD + 1,  // unpacked blocks kept
    PREFETCH_BLOCKS = 32,  // how far ahead of the unpacking each group's blocks are prefetched
};

/// LDTILECFG's 64-byte operand (palette 1).
typedef struct {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/// Tiles 0 (A: T tokens x 32 activation bytes), 1 (B: a block of 16 unpacked rows) and
/// 2 (C: T tokens x 16 int32) configured for T tokens.
static void configure(int T) {
    tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    c.rows[0] = (uint8_t)T, c.colsb[0] = 32;
    c.rows[1] = 8, c.colsb[1] = 64;
    c.rows[2] = (uint8_t)T, c.colsb[2] = 64;
    // A second set (3, 4, 5) for the next block, so two blocks' tile work overlaps: tile
    // registers are not renamed, so reusing one set serialises every load behind the last
    // block's product and store.
    c.rows[3] = (uint8_t)T, c.colsb[3] = 32;
    c.rows[4] = 8, c.colsb[4] = 64;
    c.rows[5] = (uint8_t)T, c.colsb[5] = 64;
    _tile_loadconfig(&c);
}

/// ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)), lane by lane: gemm_q4_1_x86.inc's `sum8` on 16 rows.
static inline __attribute__((always_inline)) __m512 sum8(const __m512 l[8]) {
    return _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(l[0], l[4]), _mm512_add_ps(l[2], l[6])),
                         _mm512_add_ps(_mm512_add_ps(l[1], l[5]), _mm512_add_ps(l[3], l[7])));
}

/// Block k of rows 8g..8g+15 unpacked: `b` (512 bytes, the tile layout), `dw` and `mw` (each
/// row's d and m as floats, 16 each).
static inline __attribute__((always_inline)) void unpack_block(const uint8_t *interleaved, int64_t blocks, int64_t g,
                                                              int64_t k, uint8_t *b, float *dw, float *mw) {
    const uint8_t *p0 = interleaved + (g * blocks + k) * CANOPY_Q4_1_GROUP_BLOCK;
    const uint8_t *p1 = p0 + blocks * CANOPY_Q4_1_GROUP_BLOCK;
    const __m512i low = _mm512_set1_epi8(0x0F);
    // The two groups are two streams PREFETCH_BLOCKS blocks ahead (into the next pair near a
    // group's end). Without it the tile kernel waited on L3: 140 matrices 1536 x 576, 2
    // threads, 6 / 9 / 16 tokens 6.0 / 6.9 / 8.0 ms -> 4.0 / 4.7 / 7.0 (8 blocks ahead: 5.3 /
    // 6.3 / 7.5; 48: as 32).
    for (int line = 0; line < CANOPY_Q4_1_GROUP_BLOCK; line += 64) {
        _mm_prefetch((const char *)(p0 + PREFETCH_BLOCKS * CANOPY_Q4_1_GROUP_BLOCK + line), _MM_HINT_T0);
        _mm_prefetch((const char *)(p1 + PREFETCH_BLOCKS * CANOPY_Q4_1_GROUP_BLOCK + line), _MM_HINT_T0);
    }
    _mm256_store_ps(dw, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p0)));
    _mm256_store_ps(dw + 8, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p1)));
    _mm256_store_ps(mw, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p0 + 16))));
    _mm256_store_ps(mw + 8, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p1 + 16))));
    for (int r = 0; r < 4; r++) {
        // Register r of both groups: nibble bytes 4r..4r+3 of rows 0-7, then of rows 8-15.
        const __m512i packed = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p0 + 32 + 32 * r))),
            _mm256_loadu_si256((const __m256i *)(p1 + 32 + 32 * r)), 1);
        const __m512i lo = _mm512_and_si512(packed, low);  // values 4r..4r+3
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low);  // 16+4r..16+4r+3
        _mm512_store_si512((__m512i *)(b + 64 * r), lo);
        _mm512_store_si512((__m512i *)(b + 64 * (r + 4)), hi);
    }
}

/// Pair g (rows 8g..8g+15) unpacked block by block into a ring, and the tile unit's part for
/// tokens t0..<t0+T (T <= 16): each block's T x 16 exact int32 (tdpbsud: signed activation
/// bytes times unsigned weight values) into `c`, T x 16 per block.
///
/// The ring keeps what is unpacked in L1, UNPACK_AHEAD blocks ahead of the tile loads that
/// read it. Measured (one thread, 1536 x 576, 9 tokens): unpacking a whole pair first, or all
/// pairs, ran 2-3x slower (the tile loads then come from L2); unpacking one block ahead,
/// 1.2-1.4x slower than three (a tile load of bytes just written by vector stores waits for
/// them to drain).
static void pair_products(int T, const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t g, int64_t t0,
                          uint8_t *ring, float *dw, float *mw, int32_t *c) {
    const int64_t blocks = x->blocks, cols = x->cols;
    const int8_t *a = x->qs + t0 * cols;
    for (int64_t j = 0; j < UNPACK_AHEAD && j < blocks; j++)
        unpack_block(job->interleaved, blocks, g, j, ring + j * B_BYTES, dw + 16 * j, mw + 16 * j);
    for (int64_t k = 0; k < blocks; k++) {
        const int64_t next = k + UNPACK_AHEAD;
        if (next < blocks)
            unpack_block(job->interleaved, blocks, g, next, ring + (next % RING) * B_BYTES, dw + 16 * next, mw + 16 * next);
        const uint8_t *b = ring + (k % RING) * B_BYTES;
        // Two sets of tiles, alternating, so one block's loads need not wait for the last
        // block's product (tile registers are not renamed).
        if (k & 1) {
            _tile_loadd(3, a + 32 * k, cols);
            _tile_loadd(4, b, 64);
            _tile_zero(5);
            _tile_dpbsud(5, 3, 4);
            _tile_stored(5, c + k * T * 16, 64);
        } else {
            _tile_loadd(0, a + 32 * k, cols);
            _tile_loadd(1, b, 64);
            _tile_zero(2);
            _tile_dpbsud(2, 0, 1);
            _tile_stored(2, c + k * T * 16, 64);
        }
    }
}

/// The vector unit's part: tokens t0..<t0+T of rows 8g..8g+15 from `pair_products`' int32,
/// with the float operations (and their order) of gemm_q4_1_x86.inc's interleaved kernel.
static void pair_finish(int T, const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t g, int64_t t0,
                        const float *dw, const float *mw, const int32_t *c) {
    const int64_t blocks = x->blocks, pb = x->padded_blocks;
    for (int t = 0; t < T; t++) {
        const float *xd = x->d + (t0 + t) * pb, *xs = x->s + (t0 + t) * pb;
        __m512 acc[8], mins[8];
        // Block k into lane L (a literal, so the 16 accumulators stay in registers); the first
        // block of each lane fmas onto +0, as the vector kernels' first block does.
#define BLOCK(k, L, FIRST)                                                                              \
    do {                                                                                                \
        const __m512 f = _mm512_cvtepi32_ps(_mm512_load_si512(c + ((k) * T + t) * 16));                \
        const __m512 scale = _mm512_mul_ps(_mm512_load_ps(dw + 16 * (k)), _mm512_set1_ps(xd[k]));      \
        acc[L] = _mm512_fmadd_ps(f, scale, FIRST ? _mm512_setzero_ps() : acc[L]);                      \
        mins[L] = _mm512_fmadd_ps(_mm512_load_ps(mw + 16 * (k)), _mm512_set1_ps(xs[k]),                 \
                                  FIRST ? _mm512_setzero_ps() : mins[L]);                               \
    } while (0)
        int64_t k = 0;
        if (blocks >= 8) {
            BLOCK(0, 0, 1); BLOCK(1, 1, 1); BLOCK(2, 2, 1); BLOCK(3, 3, 1);
            BLOCK(4, 4, 1); BLOCK(5, 5, 1); BLOCK(6, 6, 1); BLOCK(7, 7, 1);
            for (k = 8; k + 8 <= blocks; k += 8) {
                BLOCK(k, 0, 0); BLOCK(k + 1, 1, 0); BLOCK(k + 2, 2, 0); BLOCK(k + 3, 3, 0);
                BLOCK(k + 4, 4, 0); BLOCK(k + 5, 5, 0); BLOCK(k + 6, 6, 0); BLOCK(k + 7, 7, 0);
            }
            // The rest continue lanes 0, 1, ... (block k's lane is k mod 8).
            switch (blocks - k) {
            case 7: BLOCK(k + 6, 6, 0); /* fallthrough */
            case 6: BLOCK(k + 5, 5, 0); /* fallthrough */
            case 5: BLOCK(k + 4, 4, 0); /* fallthrough */
            case 4: BLOCK(k + 3, 3, 0); /* fallthrough */
            case 3: BLOCK(k + 2, 2, 0); /* fallthrough */
            case 2: BLOCK(k + 1, 1, 0); /* fallthrough */
            case 1: BLOCK(k, 0, 0); /* fallthrough */
            default: break;
            }
        } else {
            // Fewer than 8 blocks: each lane gets at most its first block; the others stay 0.
            for (int l = 0; l < 8; l++) acc[l] = mins[l] = _mm512_setzero_ps();
            switch (blocks) {
            case 7: BLOCK(6, 6, 1); /* fallthrough */
            case 6: BLOCK(5, 5, 1); /* fallthrough */
            case 5: BLOCK(4, 4, 1); /* fallthrough */
            case 4: BLOCK(3, 3, 1); /* fallthrough */
            case 3: BLOCK(2, 2, 1); /* fallthrough */
            case 2: BLOCK(1, 1, 1); /* fallthrough */
            case 1: BLOCK(0, 0, 1); /* fallthrough */
            default: break;
            }
        }
#undef BLOCK
        _mm512_storeu_ps(job->y + (t0 + t) * job->y_stride + 8 * g, _mm512_add_ps(sum8(acc), sum8(mins)));
    }
}

void canopy_gemm_rows_q4_1_amx(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1) {
    // Column groups (double totals across groups) and row-major matrices stay on the VNNI kernel,
    // as do products of fewer tokens than the tiles pay for.
    if (!job->interleaved || job->group_blocks > 0 || x->tokens < CANOPY_AMX_MIN_TOKENS) {
        canopy_gemm_rows_q4_1_vnni(x, job, r0, r1);
        return;
    }
    const int64_t blocks = x->blocks, tokens = x->tokens;
    const int64_t g0 = r0 / 8, pairs = (r1 / 8 - g0) / 2;
    if (pairs > 0) {
        // Scratch: the ring of unpacked blocks, the pair's d and m (16 floats per block), and
        // the tile results (up to 16 tokens x 16 int32 per block).
        const size_t row16 = (size_t)blocks * 64;
        uint8_t *ring = canopy_thread_scratch(RING * B_BYTES + 2 * row16 + row16 * AMX_TILE_TOKENS);
        if (ring == NULL) return;  // counted by canopy_thread_scratch; the forward pass fails
        float *dw = (float *)(ring + RING * B_BYTES), *mw = (float *)((uint8_t *)dw + row16);
        int32_t *c = (int32_t *)((uint8_t *)mw + row16);
        const int64_t tiles = (tokens + AMX_TILE_TOKENS - 1) / AMX_TILE_TOKENS;
        int configured = 0;
        for (int64_t k = 0; k < tiles; k++) {
            // Tiles as even as 16 allows (17 tokens: 8 + 9).
            const int64_t t = tokens * k / tiles, T = tokens * (k + 1) / tiles - t;
            if (T != configured) {
                configure((int)T);
                configured = (int)T;
            }
            for (int64_t p = 0; p < pairs; p++) {
                pair_products((int)T, x, job, g0 + 2 * p, t, ring, dw, mw, c);
                pair_finish((int)T, x, job, g0 + 2 * p, t, dw, mw, c);
            }
        }
        _tile_release();
    }
    // An odd 8-row group left over (a task's rows need not pair up).
    if (g0 + 2 * pairs < r1 / 8) canopy_gemm_rows_q4_1_vnni(x, job, 8 * (g0 + 2 * pairs), r1);
}

#pragma clang attribute pop
#endif
