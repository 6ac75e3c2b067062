#pragma once
/// @file MmaAtom<Arch>: the smallest matrix-core product one wave issues in the prefill GEMM
/// (fp16 inputs, fp32 accumulation), and which piece of it each lane holds.
///
/// The GEMM's A operand is activations (m tokens x 16 k), its B operand weights (16 k x n rows).
/// A lane's B fragment is always the four values j = 0..3 of one slot of one weight row, as the
/// device layout (formats.hpp) hands them to device lane c; the atom says where in the 16-wide
/// k range those values sit (`kprime`), and the activations are packed in that order, so neither
/// side is shuffled at run time:
///
/// ```
///   Sm90   mma.sync m16n8k16, warp 32, lane = 4 g + c     B: row g, k' = 2c + {0,1}, 2c + 8 + {0,1}
///   Gfx942 mfma_f32_16x16x16f16, wave 64, lane = 16 c + r B: row r, k' = 4c + {0,1,2,3}
/// ```

#include <cstdint>

#include <greta/arch/arch.hpp>
#include <greta/core/macros.hpp>

#if GRETA_GPU_COMPILER
#include <greta/gpu/intrinsics.hpp>
#include <greta/kernels/mma_sm90.hpp>
#endif

namespace greta::kernels {

template <class Arch>
struct MmaAtom;

/// Hopper: mma.sync.m16n8k16.row.col.f32.f16.f16.f32.
template <>
struct MmaAtom<arch::Sm90> {
    static constexpr int m = 16, n = 8, k = 16;
    static constexpr int a_regs = 4;  ///< 32-bit registers of an A fragment
    static constexpr int acc = 4;     ///< accumulator floats per lane

    /// Row of the atom's n rows whose weights this lane supplies, and its device lane c.
    GRETA_HOST_DEVICE static constexpr int b_row(int lane) { return lane / 4; }
    GRETA_HOST_DEVICE static constexpr int b_c(int lane) { return lane % 4; }
    /// Position in the 16-wide k range of value j of device lane c's slot, and back.
    GRETA_HOST_DEVICE static constexpr int kprime(int c, int j) { return 2 * c + (j & 1) + 8 * (j >> 1); }
    GRETA_HOST_DEVICE static constexpr void lane_value(int kp, int& c, int& j) {
        c = (kp % 8) / 2;
        j = 2 * (kp / 8) + kp % 2;
    }
    /// Row (token) and column (weight row) of accumulator element i of `lane`.
    GRETA_HOST_DEVICE static constexpr int acc_row(int lane, int i) { return lane / 4 + 8 * (i / 2); }
    GRETA_HOST_DEVICE static constexpr int acc_col(int lane, int i) { return 2 * (lane % 4) + i % 2; }

#if GRETA_GPU_COMPILER
    /// A fragment of the 16 x 16 fp16 tile at `tile` (row stride in halves) with ldmatrix.x4.
    GRETA_DEVICE GRETA_ALWAYS_INLINE static void load_a(std::uint32_t (&a)[a_regs], const std::uint16_t* tile,
                                                        int stride, int lane) {
#if defined(GRETA_ARCH_SM90)
        const std::uint16_t* p = tile + (lane % 16) * stride + (lane / 16) * 8;
        const unsigned s = unsigned(__cvta_generic_to_shared(p));
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
                     : "r"(s));
#else
        (void)a, (void)tile, (void)stride, (void)lane;
        GRETA_UNREACHABLE_ARCH("MmaAtom<Sm90>::load_a");
#endif
    }
    /// d += A * B, B given as the lane's (j0, j1) and (j2, j3) half2 words.
    GRETA_DEVICE GRETA_ALWAYS_INLINE static void mma(float (&d)[acc], const std::uint32_t (&a)[a_regs], std::uint32_t b01,
                                                     std::uint32_t b23) {
        sm90::mma_16816(d, a, b01, b23);
    }
#endif
};

/// CDNA3: v_mfma_f32_16x16x16_f16 (wave 64).
template <>
struct MmaAtom<arch::Gfx942> {
    static constexpr int m = 16, n = 16, k = 16;
    static constexpr int a_regs = 2;
    static constexpr int acc = 4;

    GRETA_HOST_DEVICE static constexpr int b_row(int lane) { return lane % 16; }
    GRETA_HOST_DEVICE static constexpr int b_c(int lane) { return lane / 16; }
    GRETA_HOST_DEVICE static constexpr int kprime(int c, int j) { return 4 * c + j; }
    GRETA_HOST_DEVICE static constexpr void lane_value(int kp, int& c, int& j) {
        c = kp / 4;
        j = kp % 4;
    }
    GRETA_HOST_DEVICE static constexpr int acc_row(int lane, int i) { return 4 * (lane / 16) + i; }
    GRETA_HOST_DEVICE static constexpr int acc_col(int lane, int) { return lane % 16; }

#if GRETA_GPU_COMPILER
    /// Row lane % 16, k' = 4 (lane / 16) .. +3: one 8-byte LDS.
    GRETA_DEVICE GRETA_ALWAYS_INLINE static void load_a(std::uint32_t (&a)[a_regs], const std::uint16_t* tile,
                                                        int stride, int lane) {
        const uint2 v = *reinterpret_cast<const uint2*>(tile + (lane % 16) * stride + 4 * (lane / 16));
        a[0] = v.x;
        a[1] = v.y;
    }
    GRETA_DEVICE GRETA_ALWAYS_INLINE static void mma(float (&d)[acc], const std::uint32_t (&a)[a_regs], std::uint32_t b01,
                                                     std::uint32_t b23) {
#if defined(GRETA_ARCH_CDNA3)
        typedef _Float16 half4 __attribute__((ext_vector_type(4)));
        typedef float float4v __attribute__((ext_vector_type(4)));
        const std::uint32_t aw[2] = {a[0], a[1]}, bw[2] = {b01, b23};
        half4 av, bv;
        __builtin_memcpy(&av, aw, 8);
        __builtin_memcpy(&bv, bw, 8);
        float4v c = {d[0], d[1], d[2], d[3]};
        c = __builtin_amdgcn_mfma_f32_16x16x16f16(av, bv, c, 0, 0, 0);
        d[0] = c[0], d[1] = c[1], d[2] = c[2], d[3] = c[3];
#else
        (void)d, (void)a, (void)b01, (void)b23;
        GRETA_UNREACHABLE_ARCH("MmaAtom<Gfx942>::mma");
#endif
    }
#endif
};

}  // namespace greta::kernels
