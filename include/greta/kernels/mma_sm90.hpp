#pragma once
/// @file Hopper tensor-core dot products for the quantized GEMV (mma.sync m16n8k16, fp16
/// inputs, fp32 accumulation).
///
/// A warp multiplies 16 weight rows (A) by the activation vector (B). Codes are turned into
/// exact fp16 integers with one LOP3 per two values (0x6400 is 1024.0 in fp16, so OR-ing a
/// nibble into its mantissa gives 1024 + q) and, except for Q4_K, one HSUB2/HFMA2 to remove
/// the offset; scales stay in fp32 and are applied to each chain's sum. Q4_K multiplies the
/// offset codes themselves and removes 1024 * sum(x) per chain in FP32 (the sums of x its
/// mins need anyway, taken over the same fp16 x, so the offset cancels up to FP32 rounding):
/// two instructions fewer per two values on the format where the GEMV is instruction-bound. B is *block diagonal*: column n carries x only on the k-range
/// of lane c = n/2, so D[g][2c] is exactly lane (g, c)'s own partial sum and each lane scales
/// its own chains; the four lanes of a row are added at the end.
///
/// ```
///   lane = 4*g + c        A: a0 = (row g,   k 2c..2c+1)  a1 = (row g+8, k 2c..2c+1)
///   g = 0..7, c = 0..3       a2 = (row g,   k 2c+8..+9)  a3 = (row g+8, k 2c+8..+9)
///                         B: b0 = (k 2c..2c+1, col g)    b1 = (k 2c+8..+9, col g)
///                         D: d0 = (row g, col 2c)        d2 = (row g+8, col 2c)
/// ```
/// A slot's values j = 0,1 go to the low A register and j = 2,3 to the high one (formats.hpp).

#include <cstdint>

#include <greta/core/dtype.hpp>
#include <greta/gpu/intrinsics.hpp>
#include <greta/kernels/formats.hpp>

namespace greta::kernels::sm90 {

/// Whether the tensor-core path exists for this format.
template <DType T>
inline constexpr bool mma_format = Format<T>::mma;

GRETA_DEVICE GRETA_ALWAYS_INLINE std::uint32_t hsub2(std::uint32_t a, std::uint32_t b) {
#if defined(GRETA_ARCH_SM90)
    std::uint32_t r;
    asm("sub.rn.f16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    (void)a, (void)b;
    GRETA_UNREACHABLE_ARCH("sm90::hsub2");
#endif
}
GRETA_DEVICE GRETA_ALWAYS_INLINE std::uint32_t hfma2(std::uint32_t a, std::uint32_t b, std::uint32_t c) {
#if defined(GRETA_ARCH_SM90)
    std::uint32_t r;
    asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    (void)a, (void)b, (void)c;
    GRETA_UNREACHABLE_ARCH("sm90::hfma2");
#endif
}

/// Any bitwise function of three words in one instruction (0xEA: (a & b) | c; 0xF8:
/// a | (b & c)). Written out because the compiler splits (w & mask) | constant into two.
template <std::uint32_t Lut>
GRETA_DEVICE GRETA_ALWAYS_INLINE std::uint32_t lop3(std::uint32_t a, std::uint32_t b, std::uint32_t c) {
#if defined(GRETA_ARCH_SM90)
    std::uint32_t r;
    asm("lop3.b32 %0, %1, %2, %3, %4;" : "=r"(r) : "r"(a), "r"(b), "r"(c), "n"(Lut));
    return r;
#else
    (void)a, (void)b, (void)c;
    GRETA_UNREACHABLE_ARCH("sm90::lop3");
#endif
}
inline constexpr std::uint32_t kAndOr = 0xEA, kOrAnd = 0xF8;

/// D += A * B for one m16n8k16 tile.
GRETA_DEVICE GRETA_ALWAYS_INLINE void mma_16816(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                                std::uint32_t b1) {
#if defined(GRETA_ARCH_SM90)
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    (void)d, (void)a, (void)b0, (void)b1;
    GRETA_UNREACHABLE_ARCH("sm90::mma_16816");
#endif
}

inline constexpr std::uint32_t kHalf1024 = 0x64006400u;    // (1024, 1024)
inline constexpr std::uint32_t kHalf1056 = 0x64206420u;    // 1024 + 32 (Q6_K offset)
inline constexpr std::uint32_t kHalf1152 = 0x64806480u;    // 1024 + 128 (Q8_0 sign bias)
inline constexpr std::uint32_t kHalfSixteenth = 0x2C002C00u;  // 1/16
inline constexpr std::uint32_t kHalfMinus96 = 0xD600D600u;

/// The two A registers of slot t: exact fp16 codes (j0, j1) and (j2, j3).
template <DType T>
GRETA_DEVICE GRETA_ALWAYS_INLINE void slot_pairs(const uint4 (&v)[Format<T>::payload_u4], int t, std::uint32_t& p01,
                                                 std::uint32_t& p23) {
    if constexpr (T == DType::Q4_K) {
        // Offset codes, one LOP3 per two values: 1024 + q (low nibbles) and 1024 + 16 q (high
        // nibbles). mma_superblock removes 1024 * sum(x) and the 16 in FP32.
        const std::uint32_t w = gpu::u4_word(v[(t % 8) / 4], t % 4), w8 = w >> 8;
        const std::uint32_t mask = t < 8 ? 0x000F000Fu : 0x00F000F0u;
        p01 = lop3<kAndOr>(w, mask, kHalf1024);
        p23 = lop3<kAndOr>(w8, mask, kHalf1024);
    } else if constexpr (T == DType::Q6_K) {
        const int ch = t / 4, m = t % 4;
        const std::uint32_t ql = gpu::u4_word(v[ch % 2], m), qh = gpu::u4_word(v[2], m), ql8 = ql >> 8;
        // qh bits 2ch..2ch+1 of bytes 0/2 (then 1/3) moved next to the low (then high) nibble.
        const std::uint32_t h02 = (ch % 2 == 0) ? (qh << 4) : (qh << 2);
        const std::uint32_t h13 = (ch % 2 == 0) ? (qh >> 4) : (qh >> 6);
        if (ch < 2) {  // 1024 + q, minus 1024 + 32
            p01 = hsub2(lop3<kOrAnd>(lop3<kAndOr>(ql, 0x000F000Fu, kHalf1024), h02, 0x00300030u), kHalf1056);
            p23 = hsub2(lop3<kOrAnd>(lop3<kAndOr>(ql8, 0x000F000Fu, kHalf1024), h13, 0x00300030u), kHalf1056);
        } else {  // 1024 + 16 q, times 1/16 minus 64 + 32
            p01 = hfma2(lop3<kOrAnd>(lop3<kAndOr>(ql, 0x00F000F0u, kHalf1024), h02, 0x03000300u), kHalfSixteenth,
                        kHalfMinus96);
            p23 = hfma2(lop3<kOrAnd>(lop3<kAndOr>(ql8, 0x00F000F0u, kHalf1024), h13, 0x03000300u), kHalfSixteenth,
                        kHalfMinus96);
        }
    } else if constexpr (T == DType::Q8_0) {
        const int m = t % 8;
        const std::uint32_t u = gpu::u4_word(v[(t / 8) * 2 + m / 4], m % 4) ^ 0x80808080u;  // q + 128
        p01 = hsub2(__byte_perm(u, 0x64646464u, 0x5140), kHalf1152);
        p23 = hsub2(__byte_perm(u, 0x64646464u, 0x7362), kHalf1152);
    } else if constexpr (T == DType::F16) {
        p01 = gpu::u4_word(v[t / 2], 2 * (t % 2));
        p23 = gpu::u4_word(v[t / 2], 2 * (t % 2) + 1);
    } else {
        static_assert(mma_format<T>, "no tensor-core path for this format");
    }
}

/// Adds rows (g, g+8)'s dot products over one super-block to acc0/acc1. xb holds this lane's
/// B registers for the 16 slots (zero where the lane is off the diagonal); gsum_sb the sums of x
/// over each 32-value sub-block of the super-block (Q4_K mins).
template <DType T>
GRETA_DEVICE GRETA_ALWAYS_INLINE void mma_superblock(const uint4 (&v0)[Format<T>::payload_u4],
                                                     const uint4 (&v1)[Format<T>::payload_u4], const MetaRegs& m0,
                                                     const MetaRegs& m1, int c, const std::uint32_t (&xb)[2 * kSlots],
                                                     const float* gsum_sb, float& acc0, float& acc1) {
    using F = Format<T>;
    float s0[F::chains], n0[F::chains], s1[F::chains], n1[F::chains];
    F::chain_scales(m0, c, s0, n0);
    F::chain_scales(m1, c, s1, n1);
#pragma unroll
    for (int ch = 0; ch < F::chains; ++ch) {
        float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int i = 0; i < F::chain_slots; ++i) {
            const int t = ch * F::chain_slots + i;
            std::uint32_t a[4];
            slot_pairs<T>(v0, t, a[0], a[2]);
            slot_pairs<T>(v1, t, a[1], a[3]);
            mma_16816(d, a, xb[2 * t], xb[2 * t + 1]);
        }
        if constexpr (T == DType::Q4_K) {
            // d = sum((1024 + k q) x) with k = 1 (chain 0) or 16 (chain 1), so
            // sum(q x) = (d - 1024 S) / k, S = sum(x) over the sub-block (of the same fp16 x).
            const float inv_k = ch == 0 ? 1.0f : 1.0f / 16.0f;  // ch is a compile-time constant once unrolled
            const float S = gsum_sb[2 * c + ch];
            const float a0 = s0[ch] * inv_k, a1 = s1[ch] * inv_k;
            acc0 = fmaf(a0, d[0], acc0);
            acc1 = fmaf(a1, d[2], acc1);
            acc0 = fmaf(-fmaf(1024.0f, a0, n0[ch]), S, acc0);
            acc1 = fmaf(-fmaf(1024.0f, a1, n1[ch]), S, acc1);
        } else {
            acc0 = fmaf(s0[ch], d[0], acc0);
            acc1 = fmaf(s1[ch], d[2], acc1);
            if constexpr (F::has_mins) {
                const float S = gsum_sb[2 * c + ch];
                acc0 = fmaf(-n0[ch], S, acc0);
                acc1 = fmaf(-n1[ch], S, acc1);
            }
        }
    }
}

}  // namespace greta::kernels::sm90
