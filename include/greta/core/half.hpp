#pragma once
/// @file IEEE binary16 and bfloat16 conversions, usable on host and device.
/// Bit-exact with the hardware conversions: round-to-nearest-even, NaN and Inf preserved.

#include <bit>
#include <cstdint>
#include <cstring>

#include <greta/core/macros.hpp>

namespace greta {

GRETA_HOST_DEVICE GRETA_ALWAYS_INLINE float bits_to_f32(std::uint32_t u) {
#if GRETA_GPU_COMPILER
    float f;
    memcpy(&f, &u, 4);
    return f;
#else
    return std::bit_cast<float>(u);
#endif
}

GRETA_HOST_DEVICE GRETA_ALWAYS_INLINE std::uint32_t f32_to_bits(float f) {
#if GRETA_GPU_COMPILER
    std::uint32_t u;
    memcpy(&u, &f, 4);
    return u;
#else
    return std::bit_cast<std::uint32_t>(f);
#endif
}

/// binary16 bits -> float (exact: every half is representable in float).
GRETA_HOST_DEVICE inline float fp16_to_f32(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1Fu;
    std::uint32_t mant = h & 0x3FFu;
    if (exp == 0x1F) return bits_to_f32(sign | 0x7F800000u | (mant << 13));  // Inf / NaN
    if (exp != 0) return bits_to_f32(sign | ((exp + 112u) << 23) | (mant << 13));
    if (mant == 0) return bits_to_f32(sign);  // signed zero
    // Subnormal half: value = mant * 2^-24, exact in float.
    const float v = float(mant) * 5.9604644775390625e-08f;
    return sign ? -v : v;
}

/// float -> binary16 bits, round to nearest even, overflow to Inf, NaN kept quiet.
GRETA_HOST_DEVICE inline std::uint16_t f32_to_fp16(float f) {
    const std::uint32_t x = f32_to_bits(f);
    const std::uint16_t sign = std::uint16_t((x >> 16) & 0x8000u);
    const std::uint32_t abs = x & 0x7FFFFFFFu;
    if (abs >= 0x7F800000u) return std::uint16_t(sign | (abs > 0x7F800000u ? 0x7E00u : 0x7C00u));
    if (abs >= 0x477FF000u) return std::uint16_t(sign | 0x7C00u);  // rounds past 65504
    if (abs < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
        if (abs < 0x33000000u) return sign;  // < 2^-25 rounds to zero
        const std::uint32_t e = abs >> 23;
        const std::uint32_t m = (abs & 0x7FFFFFu) | 0x800000u;
        const std::uint32_t shift = 126u - e;  // value / 2^-24 == m >> (126 - e)
        std::uint32_t r = m >> shift;
        const std::uint32_t rem = m & ((1u << shift) - 1u);
        const std::uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) ++r;
        return std::uint16_t(sign | r);
    }
    std::uint32_t r = abs - 0x38000000u;  // rebias exponent 127 -> 15
    const std::uint32_t rem = r & 0x1FFFu;
    r >>= 13;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
    return std::uint16_t(sign | r);
}

/// bfloat16 bits -> float (exact).
GRETA_HOST_DEVICE GRETA_ALWAYS_INLINE float bf16_to_f32(std::uint16_t b) {
    return bits_to_f32(std::uint32_t(b) << 16);
}

/// float -> bfloat16 bits, round to nearest even; NaN stays NaN.
GRETA_HOST_DEVICE inline std::uint16_t f32_to_bf16(float f) {
    const std::uint32_t x = f32_to_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return std::uint16_t((x >> 16) | 0x40u);
    return std::uint16_t((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace greta
