#pragma once
/// @file Q8_0: blocks of 32 values, one fp16 scale and 32 signed 8-bit codes (value = d * q).

#include <cmath>
#include <cstddef>
#include <cstdint>

#include <greta/core/dtype.hpp>
#include <greta/core/half.hpp>
#include <greta/core/macros.hpp>
#include <greta/quant/common.hpp>

namespace greta::quant {

/// GGUF's block_q8_0, byte for byte.
struct BlockQ8_0 {
    static constexpr std::size_t values = 32;
    static constexpr DType dtype = DType::Q8_0;

    std::uint16_t d;      ///< scale, IEEE fp16 bits
    std::int8_t qs[32];   ///< codes; value i is d * qs[i]
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 must be 34 bytes per 32 values, as in GGUF");
static_assert(alignof(BlockQ8_0) == 2);

/// Dequantizes one block into out[0..32).
/// d (11 significant bits) times a code (8 bits) is exact in float, so any compiler or device
/// gives the same bits as llama.cpp.
GRETA_HOST_DEVICE inline void dequantize_block(const BlockQ8_0& b, float* __restrict__ out) {
    const float d = fp16_to_f32(b.d);
    for (int i = 0; i < 32; ++i) out[i] = float(b.qs[i]) * d;
}

namespace detail {

/// Codes of x for scale d (round to nearest, clamped to [-128, 127]) and the squared error of
/// the values they dequantize to.
inline double q8_0_assign(const float* x, std::uint16_t d_bits, std::int8_t* q) {
    const float d = fp16_to_f32(d_bits);
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    double err = 0.0;
    for (int i = 0; i < 32; ++i) {
        q[i] = std::int8_t(d != 0.0f ? round_clamp(x[i] * inv, -128, 127) : 0);
        const double e = double(float(q[i]) * d) - double(x[i]);
        err += e * e;
    }
    return err;
}

}  // namespace detail

/// Quantizes x[0..32) into a block, minimizing the block's squared error over a few scales
/// (largest magnitude mapped to -128 or to 127, then a least-squares refit).
/// Throws greta::Error on NaN/Inf input or a scale beyond fp16's range; `base` is the index of
/// x[0] in the caller's row, for the message.
inline void quantize_block(const float* x, BlockQ8_0& out, std::size_t base = 0) {
    detail::require_finite(x, 32, "Q8_0", base);
    float vmax = 0.0f;  // the value of largest magnitude, with its sign
    for (int i = 0; i < 32; ++i)
        if (std::fabs(x[i]) > std::fabs(vmax)) vmax = x[i];
    out = BlockQ8_0{};
    if (vmax == 0.0f) return;

    // The side of the largest magnitude takes the code -128 (one more step than 127 offers).
    const float candidates[2] = {-vmax / 128.0f, vmax / 127.0f};
    double best = -1.0;
    std::int8_t q[32];
    for (float s : candidates) {
        for (int refit = 0; refit < 3; ++refit) {
            const std::uint16_t d = detail::scale_to_fp16(s, "Q8_0", base);
            const double err = detail::q8_0_assign(x, d, q);
            if (best < 0.0 || err < best) {
                best = err;
                out.d = d;
                for (int i = 0; i < 32; ++i) out.qs[i] = q[i];
            }
            // Least-squares scale for these codes, then reassign.
            double xq = 0.0, qq = 0.0;
            for (int i = 0; i < 32; ++i) {
                xq += double(x[i]) * q[i];
                qq += double(q[i]) * q[i];
            }
            if (qq == 0.0) break;
            s = float(xq / qq);
        }
    }
}

}  // namespace greta::quant
