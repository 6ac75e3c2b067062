#pragma once
/// @file Q4_K: super-blocks of 256 values = 8 sub-blocks of 32, 4-bit codes, a 6-bit scale and a
/// 6-bit min per sub-block, two fp16 super-scales. Value = d*sc[j]*q - dmin*m[j].

#include <cmath>
#include <cstddef>
#include <cstdint>

#include <greta/core/dtype.hpp>
#include <greta/core/half.hpp>
#include <greta/core/macros.hpp>
#include <greta/quant/common.hpp>

namespace greta::quant {

/// GGUF's block_q4_K, byte for byte.
///
/// scales[12] packs 8 six-bit scales sc[j] and 8 six-bit mins m[j]:
/// ```
///   byte  0..3 : sc[0..3] in bits 0-5, bits 6-7 = sc[4..7] >> 4
///   byte  4..7 : m[0..3]  in bits 0-5, bits 6-7 = m[4..7]  >> 4
///   byte 8..11 : sc[4..7] & 15 in bits 0-3, m[4..7] & 15 in bits 4-7
/// ```
/// qs[128] holds 4 groups of 32 bytes; group g carries sub-block 2g in the low nibbles and
/// sub-block 2g+1 in the high nibbles (value l of each in byte l of the group).
struct BlockQ4K {
    static constexpr std::size_t values = 256;
    static constexpr DType dtype = DType::Q4_K;

    std::uint16_t d;          ///< fp16 bits: scale of the sub-block scales
    std::uint16_t dmin;       ///< fp16 bits: scale of the sub-block mins
    std::uint8_t scales[12];  ///< packed 6-bit scales and mins (see above)
    std::uint8_t qs[128];     ///< 4-bit codes
};
static_assert(sizeof(BlockQ4K) == 144, "Q4_K must be 144 bytes per 256 values, as in GGUF");
static_assert(alignof(BlockQ4K) == 2);

/// Six-bit scale and min of one Q4_K sub-block.
struct Q4KScaleMin {
    std::uint8_t scale;
    std::uint8_t min;
};

/// Unpacks the scale and min of sub-block j (0..7) from a Q4_K block's scales[12].
GRETA_HOST_DEVICE inline Q4KScaleMin q4k_scale_min(const std::uint8_t* scales, int j) {
    if (j < 4) return {std::uint8_t(scales[j] & 63), std::uint8_t(scales[j + 4] & 63)};
    return {std::uint8_t((scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4)),
            std::uint8_t((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4))};
}

/// Stores sub-block j's six-bit scale and min into scales[12] (other fields untouched); the
/// inverse of q4k_scale_min.
inline void q4k_set_scale_min(std::uint8_t* scales, int j, std::uint8_t sc, std::uint8_t m) {
    if (j < 4) {
        scales[j] = std::uint8_t((scales[j] & 0xC0) | (sc & 63));
        scales[j + 4] = std::uint8_t((scales[j + 4] & 0xC0) | (m & 63));
    } else {
        scales[j + 4] = std::uint8_t((sc & 0x0F) | ((m & 0x0F) << 4));
        scales[j - 4] = std::uint8_t((scales[j - 4] & 63) | ((sc >> 4) << 6));
        scales[j] = std::uint8_t((scales[j] & 63) | ((m >> 4) << 6));
    }
}

/// Dequantizes one block into out[0..256), in llama.cpp's order of operations:
/// d1 = d*sc and m1 = dmin*m in float, then y = d1*q - m1. Both products are exact (an fp16
/// mantissa times a 6-bit integer, then times a 4-bit code, fits in float's 24 bits), so a fused
/// multiply-add gives the same bits as separate operations: host and device agree exactly.
GRETA_HOST_DEVICE inline void dequantize_block(const BlockQ4K& b, float* __restrict__ out) {
    const float d = fp16_to_f32(b.d);
    const float dmin = fp16_to_f32(b.dmin);
    for (int g = 0; g < 4; ++g) {
        const Q4KScaleMin lo = q4k_scale_min(b.scales, 2 * g);
        const Q4KScaleMin hi = q4k_scale_min(b.scales, 2 * g + 1);
        const float d1 = d * float(lo.scale), m1 = dmin * float(lo.min);
        const float d2 = d * float(hi.scale), m2 = dmin * float(hi.min);
        const std::uint8_t* q = b.qs + 32 * g;
        float* y = out + 64 * g;
        for (int l = 0; l < 32; ++l) y[l] = d1 * float(q[l] & 0x0F) - m1;
        for (int l = 0; l < 32; ++l) y[32 + l] = d2 * float(q[l] >> 4) - m2;
    }
}

namespace detail {

/// A sub-block fit x ~ s*q - m with q in [0, 15], s >= 0 and m >= 0 (the offset is <= 0).
struct Q4KFit {
    float scale = 0.0f;
    float min = 0.0f;
};

/// Squared error of the 32 values x against s*q - m with the best codes q for that (s, m),
/// computed in float exactly as the dequantizer computes the values. Writes the codes if q != nullptr.
inline double q4k_sub_error(const float* x, float s, float m, std::uint8_t* q) {
    const float inv = s > 0.0f ? 1.0f / s : 0.0f;
    double err = 0.0;
    for (int l = 0; l < 32; ++l) {
        const int c = round_clamp((x[l] + m) * inv, 0, 15);
        if (q) q[l] = std::uint8_t(c);
        const double e = double(s * float(c) - m) - double(x[l]);
        err += e * e;
    }
    return err;
}

/// Best full-precision (s, m) for one sub-block: for a range of step counts across the
/// value range, assign codes, refit s and m by least squares (keeping the offset <= 0), reassign,
/// and keep the pair with the smallest squared error.
inline Q4KFit q4k_fit_sub_block(const float* x) {
    float lo = x[0], hi = x[0];
    for (int l = 1; l < 32; ++l) {
        lo = x[l] < lo ? x[l] : lo;
        hi = x[l] > hi ? x[l] : hi;
    }
    if (lo > 0.0f) lo = 0.0f;  // the format's offset -dmin*m cannot be positive here
    if (hi <= lo) return {0.0f, -lo};

    Q4KFit best{(hi - lo) / 15.0f, -lo};
    double best_err = q4k_sub_error(x, best.scale, best.min, nullptr);
    std::uint8_t q[32];
    for (int step = -5; step <= 5; ++step) {
        const float levels = 15.0f + 0.2f * float(step);
        float s = (hi - lo) / levels, m = -lo;
        for (int iter = 0; iter < 2; ++iter) {
            q4k_sub_error(x, s, m, q);
            // Least squares for x ~ s*q + o over the current codes.
            double n = 32, sq = 0, sqq = 0, sx = 0, sxq = 0;
            for (int l = 0; l < 32; ++l) {
                sq += q[l];
                sqq += double(q[l]) * q[l];
                sx += x[l];
                sxq += double(x[l]) * q[l];
            }
            const double det = n * sqq - sq * sq;
            if (det <= 0.0) break;
            double ns = (n * sxq - sq * sx) / det;
            double no = (sx * sqq - sq * sxq) / det;
            if (no > 0.0) {  // offset must stay <= 0: fit the scale alone
                no = 0.0;
                ns = sxq / sqq;
            }
            if (!(ns > 0.0)) break;
            s = float(ns);
            m = float(-no);
            const double err = q4k_sub_error(x, s, m, nullptr);
            if (err < best_err) {
                best_err = err;
                best = {s, m};
            }
        }
    }
    return best;
}

/// Best scale s >= 0 for x ~ s*q - m with the offset m held fixed: starting from the sub-block's
/// unquantized scale and from the span of the values over 15 steps, assign codes and refit s by
/// least squares a few times; keep the best.
inline float q4k_scale_for_min(const float* x, float m, float fitted_scale) {
    float hi = x[0];
    for (int l = 1; l < 32; ++l) hi = x[l] > hi ? x[l] : hi;
    if (hi + m <= 0.0f) return 0.0f;
    float best = (hi + m) / 15.0f;
    double best_err = q4k_sub_error(x, best, m, nullptr);
    std::uint8_t q[32];
    for (float s : {fitted_scale, best}) {
        for (int iter = 0; iter < 3; ++iter) {
            const double err = q4k_sub_error(x, s, m, q);
            if (err < best_err) {
                best_err = err;
                best = s;
            }
            double tq = 0.0, qq = 0.0;
            for (int l = 0; l < 32; ++l) {
                tq += (double(x[l]) + m) * q[l];
                qq += double(q[l]) * q[l];
            }
            if (!(tq > 0.0)) break;
            const float refit = float(tq / qq);
            if (refit == s) break;
            s = refit;
        }
    }
    return best;
}

/// Six-bit scale and min of one sub-block for given super-scales: mins around the rounded fit,
/// each with the scales around its best scale for that (quantized) min, chosen by their error.
inline Q4KScaleMin q4k_pick_scale_min(const float* x, const Q4KFit& fit, float d, float dmin, double& err) {
    auto clamp63 = [](int v) { return v < 0 ? 0 : (v > 63 ? 63 : v); };
    const int m0 = dmin > 0.0f ? round_clamp(fit.min / dmin, 0, 63) : 0;
    Q4KScaleMin best{0, 0};
    err = -1.0;
    for (int m = clamp63(m0 - 1); m <= clamp63(m0 + 1); ++m) {
        const float offset = dmin * float(m);
        const float s = q4k_scale_for_min(x, offset, fit.scale);
        // s/d may lie far outside [0, 63] (then 63 or 0 is the candidate), even beyond int.
        const int sc0 = d > 0.0f ? int(std::fmin(std::floor(s / d), 64.0f)) : 0;
        for (int sc = clamp63(sc0 - 1); sc <= clamp63(sc0 + 2); ++sc) {
            const double e = q4k_sub_error(x, d * float(sc), offset, nullptr);
            if (err < 0.0 || e < err) {
                err = e;
                best = {std::uint8_t(sc), std::uint8_t(m)};
            }
        }
    }
    return best;
}

/// Quantizes one block with d >= 0 and dmin >= 0 (every sub-block offset <= 0) and returns the
/// block's squared error.
inline double q4k_quantize_nonneg(const float* x, BlockQ4K& out, std::size_t base) {
    Q4KFit fit[8];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; ++j) {
        fit[j] = q4k_fit_sub_block(x + 32 * j);
        max_scale = fit[j].scale > max_scale ? fit[j].scale : max_scale;
        max_min = fit[j].min > max_min ? fit[j].min : max_min;
    }
    std::uint16_t d_bits = scale_to_fp16(max_scale / 63.0f, "Q4_K", base);
    std::uint16_t dmin_bits = scale_to_fp16(max_min / 63.0f, "Q4_K", base);

    double best_total = -1.0;
    for (int round = 0; round < 2; ++round) {
        const float d = fp16_to_f32(d_bits), dmin = fp16_to_f32(dmin_bits);
        Q4KScaleMin sm[8];
        double total = 0.0;
        for (int j = 0; j < 8; ++j) {
            double e = 0.0;
            sm[j] = q4k_pick_scale_min(x + 32 * j, fit[j], d, dmin, e);
            total += e;
        }
        if (best_total >= 0.0 && total >= best_total) break;
        best_total = total;
        out = BlockQ4K{};
        out.d = d_bits;
        out.dmin = dmin_bits;
        std::uint8_t codes[8][32];
        for (int j = 0; j < 8; ++j) {
            q4k_set_scale_min(out.scales, j, sm[j].scale, sm[j].min);
            q4k_sub_error(x + 32 * j, d * float(sm[j].scale), dmin * float(sm[j].min), codes[j]);
        }
        for (int g = 0; g < 4; ++g)
            for (int l = 0; l < 32; ++l)
                out.qs[32 * g + l] = std::uint8_t(codes[2 * g][l] | (codes[2 * g + 1][l] << 4));

        // With the six-bit scales and codes fixed, x ~ d*(sc*q) - dmin*m is linear in (d, dmin):
        // refit both super-scales by least squares and go round again while that helps.
        double aa = 0, ab = 0, bb = 0, ax = 0, bx = 0;
        for (int j = 0; j < 8; ++j) {
            for (int l = 0; l < 32; ++l) {
                const double a = double(sm[j].scale) * codes[j][l], b = -double(sm[j].min), v = x[32 * j + l];
                aa += a * a; ab += a * b; bb += b * b; ax += a * v; bx += b * v;
            }
        }
        const double det = aa * bb - ab * ab;
        if (!(det > 0.0)) break;
        const double nd = (ax * bb - bx * ab) / det, ndmin = (aa * bx - ab * ax) / det;
        if (!(nd >= 0.0) || !(ndmin >= 0.0)) break;
        d_bits = scale_to_fp16(float(nd), "Q4_K", base);
        dmin_bits = scale_to_fp16(float(ndmin), "Q4_K", base);
    }
    return best_total;
}

}  // namespace detail

/// Quantizes x[0..256) into a block (host, reference quality).
///
/// Each sub-block's scale and min are searched (a sweep of step sizes with least-squares refits);
/// the six-bit mins are chosen around the rounded fit and, for each, the six-bit scales around
/// the best scale for that quantized min, by the error they give; then the two fp16 super-scales
/// are refitted by least squares with everything else fixed, and kept if that lowers the error.
///
/// The block is fitted to x or, mirrored, to -x (stored with negative d and dmin). llama.cpp
/// only uses the first, which wastes half the code range on sub-blocks whose values are all
/// positive (its offsets -dmin*m cannot be positive); the format allows both, and every GGUF
/// dequantizer reads either unchanged. Blocks with one-signed sub-blocks of both signs are fitted
/// both ways and the smaller error wins.
///
/// Throws greta::Error on NaN/Inf input or if a scale exceeds fp16's range; `base` is the index of
/// x[0] in the caller's row, for the message.
inline void quantize_block(const float* x, BlockQ4K& out, std::size_t base = 0) {
    detail::require_finite(x, 256, "Q4_K", base);
    // Only sub-blocks of one sign are hurt by the sign of the offsets; when there are none of a
    // sign, the orientation that fits the other sign freely is the one to use.
    bool any_positive = false, any_negative = false;
    for (int j = 0; j < 8; ++j) {
        float lo = x[32 * j], hi = x[32 * j];
        for (int l = 1; l < 32; ++l) {
            lo = x[32 * j + l] < lo ? x[32 * j + l] : lo;
            hi = x[32 * j + l] > hi ? x[32 * j + l] : hi;
        }
        any_positive |= lo > 0.0f;
        any_negative |= hi < 0.0f;
    }
    float neg[256];
    for (int i = 0; i < 256; ++i) neg[i] = -x[i];
    BlockQ4K mirrored;
    const bool try_direct = any_negative || !any_positive, try_mirrored = any_positive;
    const double err = try_direct ? detail::q4k_quantize_nonneg(x, out, base) : -1.0;
    const double err_mirrored = try_mirrored ? detail::q4k_quantize_nonneg(neg, mirrored, base) : -1.0;
    if (try_mirrored && (!try_direct || err_mirrored < err)) {
        out = mirrored;
        // Negating both fp16 scales negates every value: -(d*sc*q - dmin*m) exactly.
        out.d = std::uint16_t(out.d ^ 0x8000u);
        out.dmin = std::uint16_t(out.dmin ^ 0x8000u);
    }
}

}  // namespace greta::quant
