#pragma once
/// @file BF16 tensors: bfloat16 values (the top half of a float), converted a row at a time.

#include <cstddef>
#include <cstdint>

#include <greta/core/half.hpp>
#include <greta/core/macros.hpp>

namespace greta::quant {

/// Converts n bfloat16 values to float (exact).
GRETA_HOST_DEVICE inline void dequantize_bf16(const std::uint16_t* __restrict__ src, float* __restrict__ dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

/// Converts n floats to bfloat16, rounding to nearest even. NaN stays NaN (quiet), +-Inf stays
/// +-Inf, finite values that round past bfloat16's largest become +-Inf, as in IEEE conversions.
inline void quantize_bf16(const float* src, std::uint16_t* dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

}  // namespace greta::quant
