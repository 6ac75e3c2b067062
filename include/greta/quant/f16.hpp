#pragma once
/// @file F16 tensors: IEEE binary16 values, converted a row at a time.

#include <cstddef>
#include <cstdint>

#include <greta/core/half.hpp>
#include <greta/core/macros.hpp>

namespace greta::quant {

/// binary16 bits -> float, bit-identical to greta::fp16_to_f32 (NaN payloads included) but
/// branch-free, so that loops over it vectorize.
GRETA_HOST_DEVICE GRETA_ALWAYS_INLINE float fp16_to_f32_select(std::uint16_t h) {
    // Signed 32-bit lanes throughout: SSE2 has signed compares only.
    const std::int32_t em = h & 0x7FFF;  // exponent and mantissa
    // Rebias the exponent 15 -> 127; Inf/NaN (exponent 31) take a second rebias to reach 255.
    std::int32_t bits = (em << 13) + 0x38000000;
    bits += (0 - std::int32_t(em >= 0x7C00)) & 0x38000000;
    // Subnormal halves (and zero) are mant * 2^-24: exact, and a normal float (no denormal
    // arithmetic, so flush-to-zero modes cannot change it). Masks rather than ?: so that g++ -O2
    // if-converts and vectorizes the loops over it.
    const std::int32_t sub = std::int32_t(f32_to_bits(float(em) * 5.9604644775390625e-08f));
    const std::int32_t is_sub = 0 - std::int32_t(em < 0x0400);
    bits = (sub & is_sub) | (bits & ~is_sub);
    return bits_to_f32(std::uint32_t(bits) | (std::uint32_t(h & 0x8000u) << 16));
}

/// Converts n fp16 values to float.
GRETA_HOST_DEVICE inline void dequantize_f16(const std::uint16_t* __restrict__ src, float* __restrict__ dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = fp16_to_f32_select(src[i]);
}

/// Converts n floats to fp16, rounding to nearest even. IEEE semantics throughout: NaN stays
/// NaN, +-Inf stays +-Inf, finite values beyond +-65504 round to +-Inf (there is no scale to
/// protect, each value is its own).
inline void quantize_f16(const float* src, std::uint16_t* dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = f32_to_fp16(src[i]);
}

}  // namespace greta::quant
