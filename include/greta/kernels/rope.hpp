#pragma once
/// @file RoPE angles. The rotation itself is fused into the Q/K GEMV epilogue (gemv.hpp,
/// adjacent pairs; rotate-half checkpoints are reordered at upload so their pairs are adjacent).
/// The angles come from this table, made once at load in double precision like the CPU
/// reference: pos * theta^(-2i/hd) reaches thousands of radians, where float loses the phase.

#include <cmath>
#include <cstdint>
#include <vector>

namespace greta::kernels {

/// (cos, sin) for every position < context and pair i < head_dim/2, interleaved:
/// table[2 * (pos * head_dim/2 + i)] = cos, [... + 1] = sin.
inline std::vector<float> rope_table(std::uint32_t context, std::uint32_t head_dim, float theta) {
    const std::uint32_t half = head_dim / 2;
    std::vector<float> t(std::size_t(context) * half * 2);
    for (std::uint32_t i = 0; i < half; ++i) {
        const double freq = std::pow(double(theta), -2.0 * double(i) / double(head_dim));
        for (std::uint32_t p = 0; p < context; ++p) {
            const double angle = double(p) * freq;
            t[2 * (std::size_t(p) * half + i)] = float(std::cos(angle));
            t[2 * (std::size_t(p) * half + i) + 1] = float(std::sin(angle));
        }
    }
    return t;
}

}  // namespace greta::kernels
