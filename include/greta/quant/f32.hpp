#pragma once
/// @file F32 tensors: stored as is; the copies exist so every DType has the same row interface.

#include <cstddef>

#include <greta/core/macros.hpp>

namespace greta::quant {

/// Copies n floats (any values, NaN and Inf included, bit for bit).
GRETA_HOST_DEVICE inline void dequantize_f32(const float* src, float* dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
}

/// Copies n floats (the F32 "quantizer" is the identity).
inline void quantize_f32(const float* src, float* dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
}

}  // namespace greta::quant
