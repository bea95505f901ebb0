// AVX-512 (VL, BW) + VNNI instantiation of gemm_q8_0_x86.inc: a 16-row group per 512-bit
// register in the interleaved kernel, 256-bit vectors in the row-major one.
#if defined(__x86_64__)
#include "gemm_internal.h"
#define KERNEL_NAME(name) name##_q8_0_vnni_
#define USE_VNNI 1
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"))), apply_to = function)
#include "gemm_q8_0_x86.inc"
#pragma clang attribute pop
void canopy_gemm_rows_q8_0_vnni(const canopy_q8_rows *x, const canopy_gemm_job *job, int64_t r0, int64_t r1) {
    canopy_gemm_rows_q8_0_vnni_(x, job, r0, r1);
}
#endif
