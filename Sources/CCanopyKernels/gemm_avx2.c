// AVX2 + FMA + F16C instantiation of gemm_x86.inc.
#if defined(__x86_64__)
#include "gemm_internal.h"
#define KERNEL_NAME(name) name##_avx2_
#define USE_VNNI 0
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#include "gemm_x86.inc"
#pragma clang attribute pop
void canopy_gemm_rows_avx2(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1) {
    canopy_gemm_rows_avx2_(x, job, r0, r1);
}
#endif
