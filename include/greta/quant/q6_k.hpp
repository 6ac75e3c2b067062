#pragma once
/// @file Q6_K: super-blocks of 256 values = 16 sub-blocks of 16, 6-bit codes (stored as 4 low +
/// 2 high bits), a signed 8-bit scale per sub-block, one fp16 super-scale. Value = d*sc[j]*(q-32).

#include <cmath>
#include <cstddef>
#include <cstdint>

#include <greta/core/dtype.hpp>
#include <greta/core/half.hpp>
#include <greta/core/macros.hpp>
#include <greta/quant/common.hpp>

namespace greta::quant {

/// GGUF's block_q6_K, byte for byte.
///
/// The block is two halves of 128 values (h = 0, 1) with ql[64h..64h+64), qh[32h..32h+32).
/// For l in 0..31, the 6-bit code of value 128h + 32k + l (k = 0..3) is
/// ```
///   k=0: ql[64h+l]    & 15 | ((qh[32h+l] >> 0) & 3) << 4
///   k=1: ql[64h+32+l] & 15 | ((qh[32h+l] >> 2) & 3) << 4
///   k=2: ql[64h+l]    >> 4 | ((qh[32h+l] >> 4) & 3) << 4
///   k=3: ql[64h+32+l] >> 4 | ((qh[32h+l] >> 6) & 3) << 4
/// ```
/// and value i uses scales[i / 16].
struct BlockQ6K {
    static constexpr std::size_t values = 256;
    static constexpr DType dtype = DType::Q6_K;

    std::uint8_t ql[128];     ///< low 4 bits of the codes
    std::uint8_t qh[64];      ///< high 2 bits of the codes
    std::int8_t scales[16];   ///< sub-block scales
    std::uint16_t d;          ///< fp16 bits: super-block scale
};
static_assert(sizeof(BlockQ6K) == 210, "Q6_K must be 210 bytes per 256 values, as in GGUF");
static_assert(alignof(BlockQ6K) == 2);

/// Dequantizes one block into out[0..256): y = d*sc*q as (d*sc)*q in float like llama.cpp. Every
/// product is exact (11 + 7 + 5 significant bits fit in float's 24), so any evaluation order or
/// device gives the same bits. Loops run over 16 values that share a scale (shifts invariant), so
/// compilers vectorize them.
GRETA_HOST_DEVICE inline void dequantize_block(const BlockQ6K& b, float* __restrict__ out) {
    const float d = fp16_to_f32(b.d);
    for (int h = 0; h < 2; ++h) {
        const std::uint8_t* qh = b.qh + 32 * h;
        for (int k = 0; k < 4; ++k) {  // values 128h + 32k + l, l = 0..31
            const std::uint8_t* ql = b.ql + 64 * h + 32 * (k & 1);
            const int low_shift = 4 * (k >> 1), high_shift = 2 * k;
            for (int half = 0; half < 2; ++half) {
                const float ds = d * float(b.scales[8 * h + 2 * k + half]);
                float* y = out + 128 * h + 32 * k + 16 * half;
                for (int l = 16 * half; l < 16 * half + 16; ++l) {
                    const int code = ((ql[l] >> low_shift) & 0x0F) | (((qh[l] >> high_shift) & 3) << 4);
                    y[l - 16 * half] = ds * float(code - 32);
                }
            }
        }
    }
}

namespace detail {

/// Squared error of 16 values x against s*q with the nearest codes q in [-32, 31] (computed in
/// float as the dequantizer does). Writes the codes if q != nullptr.
inline double q6k_sub_error(const float* x, float s, int* q) {
    const float inv = s != 0.0f ? 1.0f / s : 0.0f;
    double err = 0.0;
    for (int l = 0; l < 16; ++l) {
        const int c = s != 0.0f ? round_clamp(x[l] * inv, -32, 31) : 0;
        if (q) q[l] = c;
        const double e = double(s * float(c)) - double(x[l]);
        err += e * e;
    }
    return err;
}

/// Best (signed) scale for one 16-value sub-block: the largest magnitude is mapped near the
/// code -32 (the side with one more step), for a sweep of step counts, each refit by least
/// squares and reassigned; the smallest squared error wins.
inline float q6k_fit_sub_block(const float* x) {
    float vmax = 0.0f;
    for (int l = 0; l < 16; ++l)
        if (std::fabs(x[l]) > std::fabs(vmax)) vmax = x[l];
    if (vmax == 0.0f) return 0.0f;
    float best = -vmax / 32.0f;
    double best_err = q6k_sub_error(x, best, nullptr);
    int q[16];
    for (int step = -6; step <= 2; ++step) {
        float s = -vmax / (32.0f + 0.5f * float(step));
        for (int iter = 0; iter < 2; ++iter) {
            q6k_sub_error(x, s, q);
            double xq = 0.0, qq = 0.0;
            for (int l = 0; l < 16; ++l) {
                xq += double(x[l]) * q[l];
                qq += double(q[l]) * q[l];
            }
            if (qq == 0.0) break;
            s = float(xq / qq);
            const double err = q6k_sub_error(x, s, nullptr);
            if (err < best_err) {
                best_err = err;
                best = s;
            }
        }
    }
    return best;
}

}  // namespace detail

/// Quantizes x[0..256) into a block (host, reference quality).
///
/// Each sub-block's scale is searched (sweep plus least-squares refits); the super-scale maps
/// the largest sub-block scale to -128; each 8-bit scale is then chosen within +-8 of the rounded
/// value by the error it gives after requantizing the codes (for clustered values the error is
/// far from monotonic in the scale); then the super-scale is refitted by least squares with
/// scales and codes fixed, and kept while that lowers the error.
///
/// Throws greta::Error on NaN/Inf input or if the scale exceeds fp16's range; `base` is the index
/// of x[0] in the caller's row, for the message.
inline void quantize_block(const float* x, BlockQ6K& out, std::size_t base = 0) {
    detail::require_finite(x, 256, "Q6_K", base);
    float fit[16];
    float smax = 0.0f;  // the sub-block scale of largest magnitude, with its sign
    for (int j = 0; j < 16; ++j) {
        fit[j] = detail::q6k_fit_sub_block(x + 16 * j);
        if (std::fabs(fit[j]) > std::fabs(smax)) smax = fit[j];
    }
    std::uint16_t d_bits = detail::scale_to_fp16(smax / -128.0f, "Q6_K", base);

    int codes[256];
    int scales[16];
    double best_total = -1.0;
    for (int round = 0; round < 3; ++round) {
        const float d = fp16_to_f32(d_bits);
        int sc_pick[16];
        double total = 0.0;
        for (int j = 0; j < 16; ++j) {
            const float* xs = x + 16 * j;
            const int sc0 = d != 0.0f ? detail::round_clamp(fit[j] / d, -128, 127) : 0;
            sc_pick[j] = sc0;  // ties keep the rounded scale
            double best = detail::q6k_sub_error(xs, d * float(sc0), nullptr);
            const int reach = d != 0.0f ? 8 : 0;
            for (int sc = sc0 - reach; sc <= sc0 + reach; ++sc) {
                if (sc < -128 || sc > 127 || sc == sc0) continue;
                const double err = detail::q6k_sub_error(xs, d * float(sc), nullptr);
                if (err < best) {
                    best = err;
                    sc_pick[j] = sc;
                }
            }
            total += best;
        }
        if (best_total >= 0.0 && total >= best_total) break;
        best_total = total;
        out = BlockQ6K{};
        out.d = d_bits;
        for (int j = 0; j < 16; ++j) {
            scales[j] = sc_pick[j];
            out.scales[j] = std::int8_t(sc_pick[j]);
            detail::q6k_sub_error(x + 16 * j, d * float(sc_pick[j]), codes + 16 * j);
        }
        // With the 8-bit scales and codes fixed, x ~ d*(sc*q) is linear in d: refit it by least
        // squares and go round again while that helps.
        double aa = 0.0, ax = 0.0;
        for (int i = 0; i < 256; ++i) {
            const double a = double(scales[i / 16]) * codes[i];
            aa += a * a;
            ax += a * x[i];
        }
        if (!(aa > 0.0)) break;
        d_bits = detail::scale_to_fp16(float(ax / aa), "Q6_K", base);
    }
    for (int h = 0; h < 2; ++h) {
        const int* c = codes + 128 * h;
        for (int l = 0; l < 32; ++l) {
            const int c0 = c[l] + 32, c1 = c[l + 32] + 32, c2 = c[l + 64] + 32, c3 = c[l + 96] + 32;
            out.ql[64 * h + l] = std::uint8_t((c0 & 0x0F) | ((c2 & 0x0F) << 4));
            out.ql[64 * h + l + 32] = std::uint8_t((c1 & 0x0F) | ((c3 & 0x0F) << 4));
            out.qh[32 * h + l] =
                std::uint8_t((c0 >> 4) | ((c1 >> 4) << 2) | ((c2 >> 4) << 4) | ((c3 >> 4) << 6));
        }
    }
}

}  // namespace greta::quant
