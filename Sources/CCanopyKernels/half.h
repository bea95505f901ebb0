// Portable IEEE binary16 conversions (round to nearest, ties to even), bit-for-bit equal
// to x86 F16C's vcvtps2ph/vcvtph2ps for finite values, so the scalar kernels match the
// SIMD ones.
#ifndef CANOPY_HALF_H
#define CANOPY_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t canopy_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float canopy_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static inline float canopy_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t magnitude = (uint32_t)(h & 0x7FFF) << 13;
    if ((h & 0x7C00) == 0x7C00) {
        // Inf keeps a zero mantissa; NaNs keep their payload and come out quiet, as with F16C.
        const uint32_t payload = magnitude & 0x007FE000;
        return canopy_bits_f32(sign | 0x7F800000 | payload | (payload ? 0x00400000 : 0));
    }
    // Exact: a power-of-two rescale of the 15 magnitude bits (covers subnormals too).
    const float v = canopy_bits_f32(magnitude) * canopy_bits_f32(0x77800000);  // 2^112
    return canopy_bits_f32(canopy_f32_bits(v) | sign);
}

static inline uint16_t canopy_float_to_half(float f) {
    const uint32_t x = canopy_f32_bits(f);
    const uint32_t sign = (x >> 16) & 0x8000;
    const uint32_t ax = x & 0x7FFFFFFF;
    if (ax >= 0x7F800000) return (uint16_t)(sign | 0x7C00 | (ax > 0x7F800000 ? 0x200 : 0));
    if (ax >= 0x477FF000) return (uint16_t)(sign | 0x7C00);  // rounds to >= 65520: infinity
    if (ax < 0x38800000) {
        // Subnormal half (or zero): add 0.5 so the FPU's own RNE does the rounding.
        const float v = canopy_bits_f32(ax) + 0.5f;
        return (uint16_t)(sign | (canopy_f32_bits(v) - 0x3F000000));
    }
    const uint32_t odd = (ax >> 13) & 1;
    const uint32_t rounded = ax + 0xC8000FFF + odd;  // rebias (-112 << 23) and round half even
    return (uint16_t)(sign | (rounded >> 13));
}

#endif
