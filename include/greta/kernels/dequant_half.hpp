#pragma once
/// @file Weights of one slot as fp16 for the matrix cores (prefill GEMM), on every target.
///
/// A lane's slot (formats.hpp) becomes two half2 words (j0, j1) and (j2, j3). Quantized codes
/// are first made exact fp16 integers with bit operations (0x6400 is 1024.0 in fp16: OR-ing a
/// nibble into its mantissa gives 1024 + q), then scaled in fp16 by the chain's scale (and min):
/// unlike the GEMV, the GEMM sums one k16 range over four lanes whose chains have different
/// scales, so the scale must be applied before the product. Rounding the scaled weight to
/// fp16 costs 2^-11 relative per weight, well inside the quantization step.

#include <cstdint>

#include <greta/core/dtype.hpp>
#include <greta/kernels/formats.hpp>

#if GRETA_GPU_COMPILER
#include <greta/gpu/intrinsics.hpp>

namespace greta::kernels {

GRETA_DEVICE GRETA_ALWAYS_INLINE __half2 h2_from_bits(std::uint32_t w) {
    __half2 h;
    __builtin_memcpy(&h, &w, 4);
    return h;
}
GRETA_DEVICE GRETA_ALWAYS_INLINE std::uint32_t bits_from_h2(__half2 h) {
    std::uint32_t w;
    __builtin_memcpy(&w, &h, 4);
    return w;
}

/// The chain scales of one lane's super-block as half2 pairs (scale, scale) and (-min, -min).
template <DType T>
struct HalfScales {
    __half2 scale[Format<T>::chains];
    __half2 neg_min[Format<T>::chains];
};

template <DType T>
GRETA_DEVICE GRETA_ALWAYS_INLINE HalfScales<T> half_scales(const MetaRegs& m, int c) {
    using F = Format<T>;
    float s[F::chains], mn[F::chains];
    F::chain_scales(m, c, s, mn);
    HalfScales<T> h;
#pragma unroll
    for (int ch = 0; ch < F::chains; ++ch) {
        h.scale[ch] = __float2half2_rn(s[ch]);
        h.neg_min[ch] = __float2half2_rn(-mn[ch]);
    }
    return h;
}

/// Weights (j0, j1), (j2, j3) of slot t as fp16, scaled.
template <DType T>
GRETA_DEVICE GRETA_ALWAYS_INLINE void slot_weights_half(const uint4 (&v)[Format<T>::payload_u4], int t,
                                                        const HalfScales<T>& hs, std::uint32_t& w01,
                                                        std::uint32_t& w23) {
    using F = Format<T>;
    constexpr std::uint32_t k1024 = 0x64006400u;
    if constexpr (T == DType::Q4_K) {
        const std::uint32_t w = gpu::u4_word(v[(t % 8) / 4], t % 4), w8 = w >> 8;
        __half2 q01, q23;
        if (t < 8) {  // low nibbles: (1024 + q) - 1024
            q01 = __hsub2(h2_from_bits((w & 0x000F000Fu) | k1024), h2_from_bits(k1024));
            q23 = __hsub2(h2_from_bits((w8 & 0x000F000Fu) | k1024), h2_from_bits(k1024));
        } else {  // high nibbles: (1024 + 16 q) / 16 - 64
            const __half2 sixteenth = h2_from_bits(0x2C002C00u), minus64 = h2_from_bits(0xD400D400u);
            q01 = __hfma2(h2_from_bits((w & 0x00F000F0u) | k1024), sixteenth, minus64);
            q23 = __hfma2(h2_from_bits((w8 & 0x00F000F0u) | k1024), sixteenth, minus64);
        }
        const int ch = t / F::chain_slots;
        w01 = bits_from_h2(__hfma2(q01, hs.scale[ch], hs.neg_min[ch]));
        w23 = bits_from_h2(__hfma2(q23, hs.scale[ch], hs.neg_min[ch]));
    } else if constexpr (T == DType::Q6_K) {
        const int ch = t / 4, m = t % 4;
        const std::uint32_t ql = gpu::u4_word(v[ch % 2], m), qh = gpu::u4_word(v[2], m), ql8 = ql >> 8;
        // qh bits 2ch..2ch+1 of bytes 0/2 (then 1/3) moved next to the low (then high) nibble.
        const std::uint32_t h02 = (ch % 2 == 0) ? (qh << 4) : (qh << 2);
        const std::uint32_t h13 = (ch % 2 == 0) ? (qh >> 4) : (qh >> 6);
        __half2 q01, q23;
        if (ch < 2) {  // (1024 + q) - (1024 + 32)
            const __half2 off = h2_from_bits(0x64206420u);
            q01 = __hsub2(h2_from_bits((ql & 0x000F000Fu) | k1024 | (h02 & 0x00300030u)), off);
            q23 = __hsub2(h2_from_bits((ql8 & 0x000F000Fu) | k1024 | (h13 & 0x00300030u)), off);
        } else {  // (1024 + 16 q) / 16 - (64 + 32)
            const __half2 sixteenth = h2_from_bits(0x2C002C00u), minus96 = h2_from_bits(0xD600D600u);
            q01 = __hfma2(h2_from_bits((ql & 0x00F000F0u) | k1024 | (h02 & 0x03000300u)), sixteenth, minus96);
            q23 = __hfma2(h2_from_bits((ql8 & 0x00F000F0u) | k1024 | (h13 & 0x03000300u)), sixteenth, minus96);
        }
        w01 = bits_from_h2(__hmul2(q01, hs.scale[ch]));
        w23 = bits_from_h2(__hmul2(q23, hs.scale[ch]));
    } else if constexpr (T == DType::Q8_0) {
        const int m = t % 8;
        const std::uint32_t u = gpu::u4_word(v[(t / 8) * 2 + m / 4], m % 4) ^ 0x80808080u;  // q + 128
        const __half2 off = h2_from_bits(0x64806480u);                                       // 1024 + 128
        const __half2 q01 = __hsub2(h2_from_bits(__byte_perm(u, 0x64646464u, 0x5140)), off);
        const __half2 q23 = __hsub2(h2_from_bits(__byte_perm(u, 0x64646464u, 0x7362)), off);
        const int ch = t / F::chain_slots;
        w01 = bits_from_h2(__hmul2(q01, hs.scale[ch]));
        w23 = bits_from_h2(__hmul2(q23, hs.scale[ch]));
    } else if constexpr (T == DType::F16) {
        w01 = gpu::u4_word(v[t / 2], 2 * (t % 2));
        w23 = gpu::u4_word(v[t / 2], 2 * (t % 2) + 1);
    } else {  // BF16, F32: through float
        float q[4];
        F::slot_codes(v, t, q);
        w01 = bits_from_h2(__floats2half2_rn(q[0], q[1]));
        w23 = bits_from_h2(__floats2half2_rn(q[2], q[3]));
    }
}

}  // namespace greta::kernels
#endif  // GRETA_GPU_COMPILER
