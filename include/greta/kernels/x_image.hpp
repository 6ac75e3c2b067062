#pragma once
/// @file The GEMV input handed over ready to copy ("x image"), for the tensor-core Q4_K and Q6_K
/// GEMVs on sm_90.
///
/// A producer (a GEMV epilogue, the attention kernel) writes, next to its FP32 output y, the
/// fp16 values its consumer multiplies: y[k] times the consumer's RMSNorm weight when it has
/// one, at position image_position(k) — natural order with the middle two values of every four
/// swapped, the in-slot order of the slot-swapped formats (formats.hpp). With an RMSNorm it also
/// writes partial sums of y^2 over 16 consecutive rows (x_parts_rows), from which the consumer
/// takes the norm's scale. The consumer's staging is then one 16-byte copy per lane and
/// super-block: lane L's slot pair of the tensor-core order (mma_sm90.hpp) is the 8 consecutive
/// image values of chunk image_chunk<F>(L), instead of loading x and the norm weight in FP32,
/// multiplying and converting. The FP32 output stays the reference the CPU checks.

#include <cstdint>

#include <greta/core/macros.hpp>
#include <greta/kernels/formats.hpp>
#if GRETA_GPU_COMPILER
#include <greta/gpu/intrinsics.hpp>
#endif

namespace greta::kernels {

/// Rows per partial sum of y^2.
inline constexpr std::uint32_t x_parts_rows = 16;

/// Where value k of the input sits in the image (its own inverse).
GRETA_HOST_DEVICE constexpr std::uint32_t image_position(std::uint32_t k) {
    return (k & ~3u) | ((k & 1u) << 1) | ((k >> 1) & 1u);
}

#if GRETA_GPU_COMPILER
/// A producer's write of value k (already times the consumer's norm weight, if any).
GRETA_DEVICE GRETA_ALWAYS_INLINE void store_image(std::uint16_t* image, std::uint32_t k, float v) {
    image[image_position(k)] = gpu::f32_to_half_bits(v);
}
#endif

/// The 16-byte chunk (8 values) of a super-block's image that lane `lane` of 32 copies to its
/// staging slot: the values of slots (lane % 4, t) and (lane % 4, t + 1), t = 2 (lane / 4).
template <class F>
GRETA_HOST_DEVICE constexpr int image_chunk(int lane) {
    return F::kmap(lane % 4, 2 * (lane / 4), 0) / 8;
}

/// Whether format F's tensor-core staging order is a copy of the image by 16-byte chunks:
/// lane L's 8 staged values are image chunk image_chunk<F>(L), in order (a compile-time check
/// of formats.hpp's slot maps; the GEMV uses the image only where this holds).
template <class F>
constexpr bool image_chunks_match_slots() {
    if constexpr (!F::slot_swapped) {
        return false;
    } else {
        for (int lane = 0; lane < 32; ++lane)
            for (int h = 0; h < 8; ++h) {
                // Staged half h of the lane: slot (lane % 4, 2 (lane / 4) + h / 4), position h % 4 in it.
                const int value = F::kmap(lane % 4, 2 * (lane / 4) + h / 4, h % 4);
                if (std::uint32_t(value) != image_position(std::uint32_t(image_chunk<F>(lane) * 8 + h))) return false;
            }
        return true;
    }
}

}  // namespace greta::kernels
