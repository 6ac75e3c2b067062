#pragma once
/// @file Helpers shared by the host quantizers of every block format (greta::quant::detail).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <greta/core/error.hpp>
#include <greta/core/half.hpp>

namespace greta::quant::detail {

/// Throws greta::Error unless every value of x[0..n) is finite. A NaN or Inf would otherwise
/// turn a whole block's scale into NaN/Inf without anyone noticing; the message names the format
/// and the value's index in the caller's row (`base` is the index of x[0]).
inline void require_finite(const float* x, std::size_t n, std::string_view format, std::size_t base) {
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(x[i]))
            throw Error("quantize " + std::string(format) + ": non-finite input value at index " +
                        std::to_string(base + i));
}

/// fp16 bits of a block scale; throws greta::Error if it rounds to Inf in fp16 (input too large
/// for the format), naming the format and the block's first index.
inline std::uint16_t scale_to_fp16(float s, std::string_view format, std::size_t base) {
    const std::uint16_t h = f32_to_fp16(s);
    if ((h & 0x7C00u) == 0x7C00u)
        throw Error("quantize " + std::string(format) + ": block at index " + std::to_string(base) +
                    " needs a scale of " + std::to_string(s) + ", beyond fp16's range");
    return h;
}

/// v rounded to the nearest integer (halves up) and clamped to [lo, hi]; NaN gives lo. Clamping
/// first keeps huge values and infinities in range, and plain arithmetic avoids the libm call that
/// std::nearbyint compiles to on baseline x86-64 (this is the quantizers' innermost operation).
inline int round_clamp(float v, int lo, int hi) {
    if (!(v > float(lo))) return lo;
    if (v >= float(hi)) return hi;
    return int(v - float(lo) + 0.5f) + lo;
}

}  // namespace greta::quant::detail
