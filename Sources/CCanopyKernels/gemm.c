// canopy_gemm: splits the rows of a group of matrices across the pool and runs the kernel
// of the active instruction set; also the scalar reference kernel, which spells out the
// canonical arithmetic every SIMD kernel reproduces.
#include "gemm_internal.h"
#include "half.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

int64_t canopy_interleaved_group_rows(canopy_weight_type type) {
    switch (type) {
    case CANOPY_WEIGHT_Q4_1: return 8;
    case CANOPY_WEIGHT_Q8_0: return 16;
    default: return 0;
    }
}

int32_t canopy_weight_lane_offset(canopy_weight_type type) {
    switch (type) {
    case CANOPY_WEIGHT_Q4_0: return 8;
    case CANOPY_WEIGHT_Q5_0: return 16;
    case CANOPY_WEIGHT_Q8_0: return 128;
    default: return 0;
    }
}

// Every failed growth is counted, so a forward pass can tell afterwards that a kernel
// skipped its work (see canopy_scratch_failures); the limit is a fault-injection hook.
static _Atomic uint64_t scratch_failures;
static _Atomic size_t scratch_failed_bytes;
static _Atomic size_t growth_limit = SIZE_MAX;

uint64_t canopy_scratch_failures(void) { return atomic_load(&scratch_failures); }

size_t canopy_scratch_failed_bytes(void) { return atomic_load(&scratch_failed_bytes); }

void canopy_scratch_note_failure(size_t bytes) {
    atomic_store(&scratch_failed_bytes, bytes);
    atomic_fetch_add(&scratch_failures, 1);
}

void canopy_set_growth_limit(size_t bytes) { atomic_store(&growth_limit, bytes); }

// Growths asked for since the process started, and the number of the one to refuse (0: none):
// the fault-injection hook that fails "the n-th allocation" of a request.
static _Atomic uint64_t growth_count;
static _Atomic uint64_t growth_failing;

uint64_t canopy_growth_count(void) { return atomic_load(&growth_count); }

void canopy_fail_growth_after(uint64_t n) {
    atomic_store(&growth_failing, n == 0 ? 0 : atomic_load(&growth_count) + n);
}

int canopy_growth_allowed(size_t bytes) {
    uint64_t number = atomic_fetch_add(&growth_count, 1) + 1;
    if (number == atomic_load(&growth_failing)) return 0;
    return bytes <= atomic_load(&growth_limit);
}

void *canopy_thread_scratch_slot(int slot, size_t bytes) {
    static _Thread_local void *buffers[3];
    static _Thread_local size_t capacities[3];
    if (bytes > capacities[slot]) {
        size_t grown = capacities[slot] * 2 > bytes ? capacities[slot] * 2 : bytes;
        grown = (grown + 63) / 64 * 64;
        // Doubling may ask for more than is left; the exact size may still fit.
        size_t exact = (bytes + 63) / 64 * 64;
        // One growth, one check (a refused growth must fail, not fall back to the exact
        // size); the doubled size is tried only within the limit.
        void *p = NULL;
        if (canopy_growth_allowed(exact)) {
            p = grown <= atomic_load(&growth_limit) ? aligned_alloc(64, grown) : NULL;
            if (!p) {
                p = aligned_alloc(64, exact);
                grown = exact;
            }
        }
        if (!p) {
            canopy_scratch_note_failure(bytes);
            return NULL;
        }
        free(buffers[slot]);
        buffers[slot] = p;
        capacities[slot] = grown;
    }
    return buffers[slot];
}

void *canopy_thread_scratch(size_t bytes) { return canopy_thread_scratch_slot(0, bytes); }

void *canopy_activation_scratch(size_t bytes) { return canopy_thread_scratch_slot(1, bytes); }

void *canopy_task_scratch(size_t bytes) { return canopy_thread_scratch_slot(2, bytes); }

static float hsum8(const float v[8]) {
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

/// The signed value of weight j (activation order) of one block.
static int32_t weight_value(canopy_weight_type type, const uint8_t *block, int j) {
    if (type == CANOPY_WEIGHT_Q8_0) return (int8_t)block[2 + j];
    const uint8_t *qs = block + canopy_nibbles_at(type);
    int32_t q = j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4);
    if (type == CANOPY_WEIGHT_Q5_0 || type == CANOPY_WEIGHT_Q5_1) {
        q |= (int32_t)(canopy_q5_high_bits(type, block) >> j & 1) << 4;
    }
    switch (type) {
    case CANOPY_WEIGHT_Q4_0: return q - 8;
    case CANOPY_WEIGHT_Q5_0: return q - 16;
    default: return q;  // Q4_1, Q5_1 (K-quants go through canopy_gemm_kquant)
    }
}

static float read_half(const uint8_t *p) { return canopy_half_to_float((uint16_t)(p[0] | p[1] << 8)); }

static float dot_row_scalar(canopy_weight_type type, const uint8_t *row, const canopy_q8_rows *x, int64_t t) {
    const int64_t bb = canopy_block_bytes(type);
    const int8_t *xq = x->qs + t * x->cols;
    const float *xd = x->d + t * x->padded_blocks, *xs = x->s + t * x->padded_blocks;
    float acc[2][8] = {{0}};
    float mins[8] = {0};
    for (int64_t b = 0; b < x->blocks; b++) {
        const uint8_t *block = row + b * bb;
        const float scale = read_half(block) * xd[b];
        for (int i = 0; i < 8; i++) {
            int32_t lane = 0;
            for (int k = 0; k < 4; k++) lane += weight_value(type, block, 4 * i + k) * xq[32 * b + 4 * i + k];
            acc[b & 1][i] = fmaf((float)lane, scale, acc[b & 1][i]);
        }
    }
    if (canopy_has_min(type)) {
        for (int64_t g = 0; g < x->padded_blocks; g += 8) {
            for (int i = 0; i < 8; i++) {
                const int64_t b = g + i;
                const float m = b < x->blocks ? read_half(row + b * bb + 2) : 0.0f;
                mins[i] = fmaf(m, xs[b], mins[i]);
            }
        }
    }
    float sum[8];
    for (int i = 0; i < 8; i++) sum[i] = acc[0][i] + acc[1][i];
    float result = hsum8(sum);
    if (canopy_has_min(type)) result += hsum8(mins);
    return result;
}

/// A grouped job's row (`group_blocks` > 0): each group of blocks [g0, g1) runs
/// `dot_row_scalar`'s float operations on its own (parity and mins lanes counted from g0, mins
/// lanes past g1 reading zeros), lane i's (even + odd) + mins goes into a double total per
/// lane, and the totals are summed as ((t0+t4)+(t2+t6))+((t1+t5)+(t3+t7)). The groups of a
/// column split's parts are the whole's groups, so the parts' results, added in double, round
/// to the whole's float but for ties within a double rounding.
static double dot_row_grouped_scalar(canopy_weight_type type, const uint8_t *row, const canopy_q8_rows *x, int64_t t,
                                     int64_t group) {
    const int64_t bb = canopy_block_bytes(type), blocks = x->blocks;
    const int8_t *xq = x->qs + t * x->cols;
    const float *xd = x->d + t * x->padded_blocks, *xs = x->s + t * x->padded_blocks;
    double total[8] = {0};
    for (int64_t g0 = 0; g0 < blocks; g0 += group) {
        const int64_t g1 = g0 + group < blocks ? g0 + group : blocks;
        float acc[2][8] = {{0}};
        float mins[8] = {0};
        for (int64_t b = g0; b < g1; b++) {
            const uint8_t *block = row + b * bb;
            const float scale = read_half(block) * xd[b];
            for (int i = 0; i < 8; i++) {
                int32_t lane = 0;
                for (int k = 0; k < 4; k++) lane += weight_value(type, block, 4 * i + k) * xq[32 * b + 4 * i + k];
                acc[(b - g0) & 1][i] = fmaf((float)lane, scale, acc[(b - g0) & 1][i]);
            }
        }
        if (canopy_has_min(type)) {
            for (int64_t c = g0; c < g1; c += 8) {
                for (int i = 0; i < 8; i++) {
                    const int64_t b = c + i;
                    const float m = b < g1 ? read_half(row + b * bb + 2) : 0.0f;
                    mins[i] = fmaf(m, b < g1 ? xs[b] : 0.0f, mins[i]);
                }
            }
        }
        for (int i = 0; i < 8; i++) {
            float u = acc[0][i] + acc[1][i];
            if (canopy_has_min(type)) u += mins[i];
            total[i] += (double)u;
        }
    }
    return ((total[0] + total[4]) + (total[2] + total[6])) + ((total[1] + total[5]) + (total[3] + total[7]));
}

/// Row `r`'s block `b` as the file stores it (from the job's interleaved copy when it has
/// one, which holds the same blocks), in `copy` when it has to be reassembled.
static const uint8_t *file_block(const canopy_gemm_job *job, int64_t cols, int64_t r, int64_t b, uint8_t copy[34]) {
    if (!job->interleaved) return (const uint8_t *)job->weights + r * job->row_bytes + b * canopy_block_bytes(job->type);
    if (job->type == CANOPY_WEIGHT_Q4_1) canopy_q4_1_interleaved_block(job->interleaved, cols, r, b, copy);
    else canopy_q8_0_interleaved_block(job->interleaved, cols, r, b, copy);
    return copy;
}

/// The block-sums arithmetic of Q4_1 and Q8_0 (canopy_kernels.h), row `r` of `job` against
/// token t, over column groups of `group` blocks (the whole row when 0): per block the exact
/// int32 dot; lane (b - g0) mod 8 adds float(dot) × (d_w d_x) with an fma, and for Q4_1 a
/// second set of lanes adds m_w s_x; an ungrouped row returns hsum8(dots) (+ hsum8(mins)), a
/// grouped one the double lane totals of dots (+ mins), summed as hsum8 sums floats.
static double dot_block_sums_scalar(const canopy_gemm_job *job, int64_t r, const canopy_q8_rows *x, int64_t t,
                                    int64_t group) {
    const int64_t blocks = x->blocks;
    const int has_min = canopy_has_min(job->type);
    const int8_t *xq = x->qs + t * x->cols;
    const float *xd = x->d + t * x->padded_blocks, *xs = x->s + t * x->padded_blocks;
    const int64_t size = group > 0 ? group : blocks;
    double total[8] = {0};
    float acc[8] = {0}, mins[8] = {0};
    for (int64_t g0 = 0; g0 < blocks; g0 += size) {
        const int64_t g1 = g0 + size < blocks ? g0 + size : blocks;
        for (int i = 0; i < 8; i++) acc[i] = mins[i] = 0.0f;
        for (int64_t b = g0; b < g1; b++) {
            uint8_t copy[34];
            const uint8_t *block = file_block(job, x->cols, r, b, copy);
            int32_t dot = 0;
            for (int j = 0; j < 32; j++) dot += weight_value(job->type, block, j) * xq[32 * b + j];
            const int lane = (int)((b - g0) & 7);
            acc[lane] = fmaf((float)dot, read_half(block) * xd[b], acc[lane]);
            if (has_min) mins[lane] = fmaf(read_half(block + 2), xs[b], mins[lane]);
        }
        if (group <= 0) break;
        for (int i = 0; i < 8; i++) total[i] += has_min ? (double)(acc[i] + mins[i]) : (double)acc[i];
    }
    if (group <= 0) return has_min ? hsum8(acc) + hsum8(mins) : hsum8(acc);
    return ((total[0] + total[4]) + (total[2] + total[6])) + ((total[1] + total[5]) + (total[3] + total[7]));
}

void canopy_gemm_rows_scalar(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)job->weights + r * job->row_bytes;
        for (int64_t t = 0; t < x->tokens; t++) {
            const int64_t at = t * job->y_stride + r;
            if (canopy_has_block_sums(job->type)) {
                const double sum = dot_block_sums_scalar(job, r, x, t, job->group_blocks);
                if (job->group_blocks > 0 && job->y64) job->y64[at] = sum;
                else job->y[at] = (float)sum;
                continue;
            }
            if (job->group_blocks <= 0) {
                job->y[at] = dot_row_scalar(job->type, row, x, t);
                continue;
            }
            const double sum = dot_row_grouped_scalar(job->type, row, x, t, job->group_blocks);
            if (job->y64) job->y64[at] = sum;
            else job->y[at] = (float)sum;
        }
    }
}

typedef struct gemm_plan {
    const canopy_q8_rows *x;
    const canopy_gemm_job *jobs;
    int job_count;
    int64_t total_rows;
    int64_t tasks;
    int64_t granule;
    canopy_rows_kernel kernel;
    canopy_rows_kernel q4_1_kernel;  // Q4_1 and Q8_0 have their own arithmetic and kernels
    canopy_rows_kernel q8_0_kernel;
} gemm_plan;

/// The kernel of `plan` for `type`.
static canopy_rows_kernel kernel_for(const gemm_plan *plan, canopy_weight_type type) {
    switch (type) {
    case CANOPY_WEIGHT_Q4_1: return plan->q4_1_kernel;
    case CANOPY_WEIGHT_Q8_0: return plan->q8_0_kernel;
    default: return plan->kernel;
    }
}

/// A task boundary (in the jobs' concatenated rows) moved down to a whole group of the job it
/// falls in when that job is interleaved (its kernels take whole groups of rows).
/// Neighbouring tasks share their boundary, so the tasks still cover every row once.
static int64_t snap_boundary(const gemm_plan *plan, int64_t at) {
    int64_t first = 0;
    for (int j = 0; j < plan->job_count; j++) {
        const int64_t end = first + plan->jobs[j].rows;
        if (at < end) {
            const int64_t rows = plan->jobs[j].interleaved ? canopy_interleaved_group_rows(plan->jobs[j].type) : 1;
            return first + (at - first) / rows * rows;
        }
        first = end;
    }
    return at;
}

/// Task i covers a contiguous range of the jobs' concatenated rows, in whole granules.
static void gemm_task(void *context, int64_t task) {
    const gemm_plan *plan = context;
    const int64_t groups = (plan->total_rows + plan->granule - 1) / plan->granule;
    int64_t lo = groups * task / plan->tasks * plan->granule;
    int64_t hi = groups * (task + 1) / plan->tasks * plan->granule;
    if (hi > plan->total_rows) hi = plan->total_rows;
    lo = snap_boundary(plan, lo);
    hi = snap_boundary(plan, hi);
    int64_t first = 0;
    for (int j = 0; j < plan->job_count && lo < hi; j++) {
        const canopy_gemm_job *job = &plan->jobs[j];
        const int64_t end = first + job->rows;
        if (lo < end) {
            const int64_t stop = hi < end ? hi : end;
            kernel_for(plan, job->type)(plan->x, job, lo - first, stop - first);
            lo = stop;
        }
        first = end;
    }
}

void canopy_gemm(canopy_pool *pool, const canopy_q8_rows *x, const canopy_gemm_job *jobs, int job_count) {
    gemm_plan plan = {x, jobs, job_count, 0, 1, 8, canopy_gemm_rows_scalar, canopy_gemm_rows_scalar,
                      canopy_gemm_rows_scalar};
    for (int j = 0; j < job_count; j++) plan.total_rows += jobs[j].rows;
    if (plan.total_rows == 0 || x->tokens == 0) return;
#if defined(__x86_64__)
    switch (canopy_isa_active()) {
    case CANOPY_ISA_AVX512VNNI:
        plan.kernel = canopy_gemm_rows_vnni;
        plan.q4_1_kernel = canopy_gemm_rows_q4_1_vnni;
        plan.q8_0_kernel = canopy_gemm_rows_q8_0_vnni;
        plan.granule = 16;  // its Q4_1 kernel takes pairs of 8-row groups
        break;
    case CANOPY_ISA_AVX2:
        plan.kernel = canopy_gemm_rows_avx2;
        plan.q4_1_kernel = canopy_gemm_rows_q4_1_avx2;
        plan.q8_0_kernel = canopy_gemm_rows_q8_0_avx2;
        break;
    default: break;
    }
#endif
    const int threads = canopy_pool_threads(pool);
    const int64_t groups = (plan.total_rows + plan.granule - 1) / plan.granule;
    // Work in multiply-adds; tiny products are not worth waking the workers.
    const int64_t work = plan.total_rows * x->cols * x->tokens;
    if (threads > 1 && work >= (1 << 16)) {
        // A few tasks per thread, so one slowed by another process does not hold up the rest.
        plan.tasks = groups < threads * 4 ? groups : threads * 4;
    }
    canopy_pool_run(pool, plan.tasks, gemm_task, &plan);
}
