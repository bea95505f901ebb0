// CCanopyKernels: the hot loops of Canopy's CPU backend, in C because run-time selection
// between AVX2 and AVX-512 VNNI needs per-function target attributes, which Swift lacks
// (a Swift target CPU applies to a whole module, and a binary built for the baseline CPU
// must stay portable).
//
// Three pieces, each with a portable scalar fallback that computes bit-for-bit the same
// results as its SIMD versions:
//  - a persistent worker pool (canopy_pool_*), so the decode loop never creates threads;
//  - 8-bit activation quantization (canopy_q8_*), ggml's Q8_0/Q8_1 rounding;
//  - integer matrix products of Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q8_0 weights with those activations
//    (canopy_gemm_*), tiled so a weight block loaded into cache serves many tokens.
#ifndef CANOPY_KERNELS_H
#define CANOPY_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Instruction sets

/// Kernel instruction-set levels, lowest first.
typedef enum canopy_isa {
    CANOPY_ISA_SCALAR = 0,
    CANOPY_ISA_AVX2 = 1,        // AVX2 + FMA + F16C
    CANOPY_ISA_AVX512VNNI = 2,  // AVX-512 F/BW/VL + VNNI (256-bit vectors; K-quants 512-bit)
} canopy_isa;

/// The environment variable that caps every kernel's level for the whole process: "scalar",
/// "avx2" or "avx512vnni" (any case). Read once, when a kernel first asks for its level, so a
/// machine with AVX-512 can run exactly what an AVX2-only or a scalar-only machine runs.
#define CANOPY_MAX_ISA_VARIABLE "CANOPY_MAX_ISA"

/// The best level this CPU and OS support (checked with cpuid/xgetbv once), ignoring
/// CANOPY_MAX_ISA.
canopy_isa canopy_isa_hardware(void);
/// The best level kernels may use: `canopy_isa_hardware()` capped by CANOPY_MAX_ISA. Fixed
/// for the life of the process. The attention loops always run at this level.
canopy_isa canopy_isa_supported(void);
/// How CANOPY_MAX_ISA was read: 0 when unset or empty, 1 when it names a level, -1 when it
/// names none (then it is ignored, and a program should refuse to start). `*text` (when not
/// NULL) receives the value as read, possibly truncated; "" when unset.
int canopy_isa_ceiling_setting(const char **text);
/// The level the kernels use now: `canopy_isa_supported()` unless lowered.
canopy_isa canopy_isa_active(void);
/// Selects `isa`, clamped to what is supported; returns the level now active. For tests and
/// benchmarks. It applies to the kernels whose levels compute the same bits (matmuls,
/// activation quantization, f16 conversions), so changing it never changes a result; the
/// attention loops, whose levels differ in summation order, always use the supported level.
canopy_isa canopy_isa_select(canopy_isa isa);
/// "scalar", "avx2" or "avx512vnni".
const char *canopy_isa_name(canopy_isa isa);
/// Reads a level's name (`canopy_isa_name`'s, any case) into `*isa`; 1 on success, 0 otherwise.
int canopy_isa_parse(const char *name, canopy_isa *isa);

/// Physical cores available to this process (distinct core ids among the CPUs in its
/// affinity mask); at least 1.
int canopy_physical_cores(void);

// MARK: - Worker pool

/// A fixed set of worker threads that run fork-join loops. The calling thread takes part,
/// so a pool of `threads` has `threads - 1` workers. Workers spin briefly after a loop
/// (the next matmul usually follows within microseconds), then sleep on a condition
/// variable.
typedef struct canopy_pool canopy_pool;

/// One iteration of a parallel loop.
typedef void (*canopy_task_fn)(void *context, int64_t task);

/// A pool of `threads` threads in all (clamped to 1...256); NULL if threads cannot be made.
canopy_pool *canopy_pool_create(int threads);
/// Stops and joins the workers. The pool must be idle.
void canopy_pool_destroy(canopy_pool *pool);
/// Threads in the pool, including the caller.
int canopy_pool_threads(const canopy_pool *pool);
/// Runs `fn(context, i)` for every i in 0..<tasks, spread over the pool, and returns when
/// all have finished. Iterations must write disjoint memory. If another thread is running
/// a loop on the pool, this caller runs its iterations itself (same results, no waiting).
void canopy_pool_run(canopy_pool *pool, int64_t tasks, canopy_task_fn fn, void *context);

// MARK: - Activations

/// Rows of activations quantized to 32-value blocks of int8 with one scale each — ggml's
/// Q8_0 / Q8_1 values, laid out for the matmul kernels.
///
/// For token t and block b (blocks = cols / 32, padded_blocks = blocks rounded up to 8):
///  - qs[t * cols + 32 b + j]: the 32 int8 values;
///  - d[t * padded_blocks + b]: the scale, f16-rounded as ggml stores it;
///  - s[t * padded_blocks + b]: Q8_1's f16(d_unrounded * Σ qs) (used by Q4_1/Q5_1 weights);
///  - lane_base[(t * blocks + b) * 8 + i]: −k · Σ of values 4i..4i+3, the integer
///    correction for weights stored with an offset k (16 for Q5_0, 8 for Q4_0; also filled
///    for Q8_0's 128, whose kernels read block_base), or unused;
///  - block_base[t * padded_blocks + b]: −k · Σ of the block's 32 values (the correction of
///    a whole block: Q8_0's interleaved copy holds its weights offset by 128).
/// Padding entries of d, s and block_base are 0.
typedef struct canopy_q8_rows {
    int64_t tokens;
    int64_t cols;
    int64_t blocks;
    int64_t padded_blocks;
    int8_t *qs;
    float *d;
    float *s;
    int32_t *lane_base;
    int32_t *block_base;
    int32_t lane_offset;
} canopy_q8_rows;

/// Bytes of scratch `canopy_q8_quantize` needs for `tokens` rows of `cols` values.
size_t canopy_q8_scratch_bytes(int64_t tokens, int64_t cols);

/// A 64-byte aligned buffer of at least `bytes` owned by the calling thread, reused by its
/// later calls (grow-only, so steady-state decoding allocates nothing); NULL if memory is
/// exhausted. Separate from the kernels' own per-thread scratch, so it can hold activations
/// while the calling thread runs kernel tasks.
void *canopy_activation_scratch(size_t bytes);

/// A 64-byte aligned grow-only buffer of at least `bytes` owned by the calling thread, for
/// Swift loops that run on the pool (attention tiles); NULL if memory is exhausted. A third
/// slot, apart from the kernels' and the activations', so such a loop may call either.
void *canopy_task_scratch(size_t bytes);

/// Scratch growths that failed since the process started (every kernel, every thread).
/// A kernel whose scratch cannot grow skips its work and counts the failure here; a forward
/// pass compares the count before and after and fails instead of returning what it skipped.
uint64_t canopy_scratch_failures(void);
/// The size of the latest failed growth, for the error message.
size_t canopy_scratch_failed_bytes(void);
/// Counts a failed growth of `bytes` (for scratch allocated outside these functions).
void canopy_scratch_note_failure(size_t bytes);
/// Fault injection for tests: growths above `bytes` fail as if memory were exhausted
/// (SIZE_MAX, the default, lifts the limit). Process-wide.
void canopy_set_growth_limit(size_t bytes);
/// Whether a growth of `bytes` may go ahead: under the fault-injection limit and not the
/// growth `canopy_fail_growth_after` picked. Every call counts as one growth.
int canopy_growth_allowed(size_t bytes);
/// Growths asked for (calls of canopy_growth_allowed) since the process started.
uint64_t canopy_growth_count(void);
/// Fault injection for tests: the `n`-th growth from now (1-based) is refused as if memory
/// were exhausted, once; 0 disarms. Process-wide.
void canopy_fail_growth_after(uint64_t n);

/// Quantizes `tokens` rows of `cols` floats (cols a multiple of 32) into `scratch`
/// (`canopy_q8_scratch_bytes` bytes, 64-byte aligned) and describes them in `out`.
/// `lane_offset` is the weight offset k the lane bases are for (0 to skip them).
/// Values and scales equal ggml's AVX2 quantize_row_q8_0/q8_1 (round half to even).
void canopy_q8_quantize(canopy_pool *pool, const float *x, int64_t tokens, int64_t cols,
                        int32_t lane_offset, void *scratch, canopy_q8_rows *out);

/// Quantizes `tokens` rows of `cols` floats (cols a multiple of 256) to ggml's Q8_K blocks
/// in `out` (292 bytes per 256 values: f32 d, 256 int8, 16 int16 bsums), row after row: the
/// bytes of ggml's quantize_row_q8_K_ref at every instruction-set level. Rows are split
/// across `pool` for 8 tokens or more.
void canopy_q8k_quantize(canopy_pool *pool, const float *x, int64_t tokens, int64_t cols, void *out);

/// `canopy_q8_quantize` of RMSNorm(x) · weight (row by row: x / sqrt(mean(x²) + epsilon),
/// then times weight[c]), without writing the normalised rows anywhere. The values quantized
/// are bitwise those of Swift's `RMSNorm.apply`, so fusing changes no result.
void canopy_q8_quantize_rmsnorm(canopy_pool *pool, const float *x, const float *weight, float epsilon,
                                int64_t tokens, int64_t cols, int32_t lane_offset, void *scratch,
                                canopy_q8_rows *out);

// MARK: - Matrix products

/// Weight block formats the integer kernels read (GGML layouts).
typedef enum canopy_weight_type {
    CANOPY_WEIGHT_Q4_0 = 0,  // 18-byte blocks: f16 d, 16 bytes of nibbles; value = (q − 8) d
    CANOPY_WEIGHT_Q4_1 = 1,  // 20-byte blocks: f16 d, f16 m, 16 bytes of nibbles; value = q d + m
    CANOPY_WEIGHT_Q8_0 = 2,  // 34-byte blocks: f16 d, 32 int8; value = q d
    // 256-value K-quant super-blocks (canopy_gemm_kquant only).
    CANOPY_WEIGHT_Q2_K = 3,
    CANOPY_WEIGHT_Q3_K = 4,
    CANOPY_WEIGHT_Q4_K = 5,
    CANOPY_WEIGHT_Q5_K = 6,
    CANOPY_WEIGHT_Q6_K = 7,
    // 5-bit values: bit j of the little-endian u32 qh is the fifth bit of value j; nibbles
    // as in Q4_0/Q4_1 (low nibbles values 0-15, high nibbles 16-31).
    CANOPY_WEIGHT_Q5_0 = 8,  // 22-byte blocks: f16 d, u32 qh, 16 bytes of nibbles; value = (q − 16) d
    CANOPY_WEIGHT_Q5_1 = 9,  // 24-byte blocks: f16 d, f16 m, u32 qh, 16 bytes of nibbles; value = q d + m
} canopy_weight_type;

/// The lane offset (`canopy_q8_quantize`'s `lane_offset`) activations need for `type`.
int32_t canopy_weight_lane_offset(canopy_weight_type type);

/// One matrix of a grouped product: y[t * y_stride + r] = Σ_c W[r, c] x[t, c].
///
/// With `group_blocks` > 0 the row's blocks are taken in column groups of that many (the
/// last may be shorter): each group runs the float operations below on its own (even/odd
/// parity and mins lanes counted from the group's first block), each lane's
/// (even + odd) + mins of a group is added to a double total per lane, and the result is
/// ((t0+t4)+(t2+t6))+((t1+t5)+(t3+t7)) in double: written to `y64` when set, else rounded
/// to `y`. A column split on group boundaries gives each part the whole's groups, so the
/// parts' results added in double round to the whole's float (but for ties within a double
/// rounding): how tensor-parallel ranks, each holding some columns, compute one process's
/// bits. With `group_blocks` 0, `y64` is unused.
typedef struct canopy_gemm_job {
    canopy_weight_type type;
    const void *weights;  // row r at weights + r * row_bytes
    int64_t rows;
    int64_t row_bytes;
    float *y;
    int64_t y_stride;
    int64_t group_blocks;
    double *y64;
    /// Q4_1 and Q8_0 only, optional: the same matrix in `canopy_q4_1_interleave`'s layout
    /// (rows a multiple of 8) or `canopy_q8_0_interleave`'s (rows a multiple of 16), which the
    /// kernels then read instead of `weights`. The same bits either way.
    const void *interleaved;
} canopy_gemm_job;

/// Copies a Q4_1 matrix (`rows` × `cols`, rows a multiple of 8, cols of 32) into `out` (the
/// same byte count) with 8 rows side by side: for rows 8g..8g+7 and block b, 160 bytes at
/// ((g · cols/32) + b) · 160: the 8 rows' f16 d, their f16 m, then 4 registers of 32 bytes,
/// register k holding bytes 4k..4k+3 of each row's 16 nibble bytes (row i at 4i). One
/// 32-byte load then serves 8 rows. Returns 0, or -1 (nothing written) for other shapes.
int canopy_q4_1_interleave(const void *rows, int64_t row_count, int64_t cols, void *out);

/// Row `r`'s block `b` of an interleaved Q4_1 matrix of `cols` columns, as the file's 20 bytes.
void canopy_q4_1_interleaved_block(const void *interleaved, int64_t cols, int64_t r, int64_t b, uint8_t out[20]);

/// Rows side by side in the interleaved copy of a `type` matrix (Q4_1: 8, Q8_0: 16), whose
/// row count must be a multiple of it; 0 for types without an interleaved layout.
int64_t canopy_interleaved_group_rows(canopy_weight_type type);

/// Copies a Q8_0 matrix (`rows` × `cols`, rows a multiple of 16, cols of 32) into `out` (the
/// same byte count) with 16 rows side by side: for rows 16g..16g+15 and block b, 544 bytes
/// at ((g · cols/32) + b) · 544: the 16 rows' f16 d, then 8 registers of 64 bytes, register k
/// holding values 4k..4k+3 of each row (row i at 4i) offset by 128 (stored as q ^ 0x80, an
/// unsigned byte). One 64-byte load then serves 16 rows. Returns 0, or -1 (nothing written)
/// for other shapes.
int canopy_q8_0_interleave(const void *rows, int64_t row_count, int64_t cols, void *out);

/// Row `r`'s block `b` of an interleaved Q8_0 matrix of `cols` columns, as the file's 34 bytes.
void canopy_q8_0_interleaved_block(const void *interleaved, int64_t cols, int64_t r, int64_t b, uint8_t out[34]);

/// Multiplies every job's matrix by the same quantized activations `x` (all with x->cols
/// columns and x->lane_offset equal to `canopy_weight_lane_offset` of every job's type),
/// splitting rows of all jobs across the pool in one fork-join.
///
/// Each output is computed by one fixed sequence of operations, whatever the number of
/// tokens, the tiling, the thread split, the weight layout or the instruction set — so
/// results are bitwise independent of batch composition. Q4_0, Q5_0, Q5_1 (the 8-lane
/// arithmetic): per block b the integer dot is split into 8 lanes of 4 products; lanes are
/// scaled by d_w·d_x and accumulated with FMA into an even-block and an odd-block
/// accumulator; Q5_1 adds Σ m_w·s_x accumulated over 8 lanes of blocks; the lanes are summed
/// as ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)). Q4_1 and Q8_0 (the block-sums arithmetic, which is
/// also llama.cpp's): per block b the exact int32 Σ q_w·q_x of its 32 products; lane b mod 8
/// of 8 float accumulators adds float(Σ)·(d_w·d_x) with an FMA; for Q4_1, lane b mod 8 of 8
/// more adds m_w·s_x with an FMA; the result is the lane sum of the first (plus that of the
/// second) (grouped: lanes counted from the group's first block, and each lane's first
/// (+ second) goes into its double total).
void canopy_gemm(canopy_pool *pool, const canopy_q8_rows *x, const canopy_gemm_job *jobs,
                 int job_count);

/// y[t * y_stride + r] = Σ_c W[r, c] x[t, c] for K-quant weights (`type` Q2_K…Q6_K, `cols` a
/// multiple of 256) and activations already quantized to ggml's Q8_K blocks (292 bytes per
/// 256 values, `tokens` rows of cols / 256 blocks: f32 d, 256 int8, 16 int16 bsums). Rows are
/// split across the pool; every level (AVX-512 VNNI, AVX2, scalar) computes the same bits
/// (see kquants.c).
void canopy_gemm_kquant(canopy_pool *pool, canopy_weight_type type, const void *weights, int64_t rows,
                        int64_t row_bytes, const void *x_q8k, int64_t tokens, int64_t cols, float *y,
                        int64_t y_stride);

// MARK: - Attention inner loops

/// The element type of the K/V rows the attention loops read: f32, or f16 widened exactly as
/// it is loaded (a loop over f16 rows gives the bits it gives over their f32 copies).
typedef enum canopy_kv_row {
    CANOPY_KV_ROW_F32 = 0,
    CANOPY_KV_ROW_F16 = 1,
} canopy_kv_row;

/// scores[j] = Σ_i q[i] · keys[j][i] for j in 0..<count (hd values per row of type `type`).
void canopy_attention_scores(const float *q, const void *const *keys, canopy_kv_row type, int64_t count, int64_t hd,
                             float *scores);

/// acc[d] = acc[d] · correction + Σ_j weights[j] · rows[j][d] for d in 0..<hd, the terms
/// added in order of j (rows of type `type`).
void canopy_attention_accumulate(float *acc, float correction, const float *weights, const void *const *rows,
                                 canopy_kv_row type, int64_t count, int64_t hd);

/// `canopy_attention_scores` for `group` query vectors that read the same keys (the query heads
/// of one KV head): vector g at q + g · q_stride, its scores at scores + g · scores_stride. Each
/// vector's scores are bitwise those of `canopy_attention_scores`; each f16 key row is widened
/// once for the group.
void canopy_attention_scores_group(const float *q, int64_t q_stride, int64_t group, const void *const *keys,
                                   canopy_kv_row type, int64_t count, int64_t hd, float *scores, int64_t scores_stride);

/// `canopy_attention_accumulate` for `group` accumulators over the same value rows: accumulator
/// g at acc + g · acc_stride with correction corrections[g] and weights at weights + g ·
/// weights_stride. Each accumulator's result is bitwise that of `canopy_attention_accumulate`.
void canopy_attention_accumulate_group(float *acc, int64_t acc_stride, const float *corrections, const float *weights,
                                       int64_t weights_stride, int64_t group, const void *const *rows,
                                       canopy_kv_row type, int64_t count, int64_t hd);

/// One online-softmax step of a query vector over a chunk of `count` ≥ 1 scores: with m the
/// larger of *run_max and the chunk's maximum, scores[j] = e^(scores[j] − m) (the exponential
/// of vector_exp.h, Swift's `VectorMath.exp`), *run_sum = *run_sum · c + Σ_j scores[j] (summed
/// in order of j), *run_max = m; returns c = e^(old *run_max − m), the factor the vector's
/// accumulator takes. Writes scores up to `count` rounded up to 8 (the caller's row pitch);
/// every level gives the same bits.
float canopy_attention_softmax_step(float *scores, int64_t count, float *run_max, float *run_sum);

/// The two loops at level `isa` (clamped to canopy_isa_supported()), for tests: AVX-512 and
/// AVX2 compute the same bits; scalar sums in another order.
void canopy_attention_scores_at(canopy_isa isa, const float *q, const void *const *keys, canopy_kv_row type,
                                int64_t count, int64_t hd, float *scores);
void canopy_attention_accumulate_at(canopy_isa isa, float *acc, float correction, const float *weights,
                                    const void *const *rows, canopy_kv_row type, int64_t count, int64_t hd);

// MARK: - Activations

/// gate[i] = silu(gate[i]) · up[i] for i in 0..<n, silu(g) = g / (1 + e^−g), at the supported
/// level: AVX2 and AVX-512 with the exponential of Swift's `VectorMath.exp` (a degree-6
/// polynomial, within about 2 ulp; e^−g infinite below g = −88, so silu is −0 there), both the
/// same bits; the scalar level with libm's expf (as llama.cpp: vector loops polynomial, scalar
/// code expf). A value's result does not depend on its place in the row.
void canopy_swiglu(float *gate, const float *up, int64_t n);
/// `canopy_swiglu` at level `isa` (clamped to canopy_isa_supported()), for tests.
void canopy_swiglu_at(canopy_isa isa, float *gate, const float *up, int64_t n);

// MARK: - Half-precision rows

/// dst[i] = the f16 value at src + 2i (little-endian), exactly; NaNs come out quiet, as
/// F16C makes them.
void canopy_f16_to_f32(const void *src, float *dst, int64_t n);

/// Writes the f16 values nearest to src[0..<n] (ties to even; beyond range: infinities) to
/// dst, little-endian.
void canopy_f32_to_f16(const float *src, void *dst, int64_t n);

/// Rounds each of x[0..<n] to the nearest f16 value (ties to even) in place; values beyond
/// f16's range become infinities.
void canopy_round_to_f16(float *x, int64_t n);

#ifdef __cplusplus
}
#endif

#endif
