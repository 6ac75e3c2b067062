#pragma once
/// @file Device layouts of weight matrices, and the per-format code that reads them.
///
/// Every format is cut into super-blocks (SB) of 256 values along a row (K padded with zero
/// weights to a multiple of 256). Four lanes (c = 0..3) share one row's SB; each lane owns 64
/// of its values, seen as 16 *slots* of 4 values. At upload a row is repacked so that lane c's
/// n-th 16-byte load sits at `sb_offset + n*64 + c*16`: four lanes read 64 contiguous bytes,
/// every load is 128-bit, and the bytes are the GGUF bytes (moved, never re-quantized):
///
/// ```
///   payload row: | SB 0                                  | SB 1 ...
///                | n=0: c0 c1 c2 c3 | n=1: c0 c1 c2 c3 |...      (16 B per cell)
///   meta row   : | 16 B per SB (Q4_K d,dmin,scales | Q6_K scales | Q8_0 eight d) |
///   aux row    : | 2 B per SB (Q6_K d)                                            |
/// ```
///
/// `kmap(c, t, j)` says which of the SB's 256 values is value j of slot t of lane c. Inside a
/// slot, j = 0,1 form the low half2 and j = 2,3 the high half2 of an mma.m16n8k16 A fragment
/// (k = 2c, 2c+1 and 2c+8, 2c+9), so the Hopper path feeds fp16 codes to the tensor cores
/// without shuffling. Slots are grouped in *chains* that share one scale (a Q4_K/Q6_K
/// sub-block, a Q8_0 block), so a chain's sum is scaled once.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <greta/core/dtype.hpp>
#include <greta/core/error.hpp>
#include <greta/core/half.hpp>
#include <greta/core/macros.hpp>
#include <greta/core/tensor_view.hpp>
#include <greta/quant/q4_k.hpp>
#include <greta/quant/q6_k.hpp>
#include <greta/quant/q8_0.hpp>

#if GRETA_GPU_COMPILER
#include <greta/gpu/intrinsics.hpp>
#endif

namespace greta::kernels {

inline constexpr int kSbValues = 256;  ///< values per super-block
inline constexpr int kSbLanes = 4;     ///< lanes sharing one row's super-block
inline constexpr int kSlots = 16;      ///< slots of 4 values per lane per super-block
inline constexpr std::uint32_t kGroupRows = 16;  ///< rows interleaved per group (a GEMV tile on 32-lane waves)

/// Per-lane register image of one SB's scale data for one row.
struct MetaRegs {
    std::uint32_t w[4] = {0, 0, 0, 0};
    std::uint32_t aux = 0;
};

/// Which byte of a 32-bit word holds value j of a slot: the low half2 takes bytes 0 and 2
/// (one mask extracts both), the high half2 bytes 1 and 3 (the same mask after >> 8).
GRETA_HOST_DEVICE constexpr int slot_byte(int j) { return j == 1 ? 2 : j == 2 ? 1 : j; }

template <DType T>
struct Format;

// ---------------------------------------------------------------------------------------------
/// Q4_K. Lane c owns qs group c (32 bytes): sub-block 2c in the low nibbles (chain 0, slots
/// 0..7) and sub-block 2c+1 in the high nibbles (chain 1, slots 8..15); slot t uses word t%8.
/// Meta keeps d and dmin, and re-packs the twelve 6-bit-scale bytes lane by lane: bits
/// [24c, 24c+24) of the 96 bits after d/dmin hold sc(2c), sc(2c+1), m(2c), m(2c+1), 6 bits
/// each, so a lane decodes its scales with one funnel shift instead of GGUF's byte juggling.
template <>
struct Format<DType::Q4_K> {
    static constexpr DType dtype = DType::Q4_K;
    static constexpr int payload_u4 = 2, meta_bytes = 16, aux_bytes = 0;
    static constexpr int meta_lane_bytes = 16;  ///< meta bytes one lane needs per super-block
    GRETA_HOST_DEVICE static constexpr int meta_lane_offset(int) { return 0; }
    static constexpr int chains = 2, chain_slots = 8;
    static constexpr bool has_mins = true;
    static constexpr bool mma = true;
    static constexpr bool slot_swapped = true;  ///< 4 consecutive values fill a slot as j = slot_byte(e)

    GRETA_HOST_DEVICE static constexpr int kmap(int c, int t, int j) {
        return 64 * c + 32 * (t / 8) + 4 * (t % 8) + slot_byte(j);
    }
    GRETA_HOST_DEVICE static constexpr void slot_of(int kk, int& c, int& t, int& j) {
        c = kk / 64;
        const int r = kk % 64;
        t = (r / 32) * 8 + (r % 32) / 4;
        j = slot_byte(r % 4);  // slot_byte is its own inverse
    }
    static void repack_sb(const std::byte* src, std::byte* payload, std::byte* meta, std::byte*) {
        const auto* b = reinterpret_cast<const quant::BlockQ4K*>(src);
        for (int n = 0; n < payload_u4; ++n)
            for (int c = 0; c < 4; ++c) std::memcpy(payload + n * 64 + c * 16, b->qs + 32 * c + 16 * n, 16);
        std::memcpy(meta, src, 4);  // d, dmin
        std::uint8_t bits[12] = {};
        for (int c = 0; c < 4; ++c) {
            const quant::Q4KScaleMin a = quant::q4k_scale_min(b->scales, 2 * c);
            const quant::Q4KScaleMin z = quant::q4k_scale_min(b->scales, 2 * c + 1);
            const std::uint32_t field = std::uint32_t(a.scale) | std::uint32_t(z.scale) << 6 |
                                        std::uint32_t(a.min) << 12 | std::uint32_t(z.min) << 18;
            for (int i = 0; i < 3; ++i) bits[3 * c + i] = std::uint8_t(field >> (8 * i));
        }
        std::memcpy(meta + 4, bits, 12);
    }
#if GRETA_GPU_COMPILER
    GRETA_DEVICE static void load_meta(const std::byte* meta_sb, const std::byte*, int, MetaRegs& m) {
        const uint4 v = gpu::load_u4(meta_sb);
        m.w[0] = v.x, m.w[1] = v.y, m.w[2] = v.z, m.w[3] = v.w;
    }
    /// Scale and min of this lane's two chains (sub-blocks 2c, 2c+1).
    GRETA_DEVICE static void chain_scales(const MetaRegs& m, int c, float (&scale)[chains], float (&minv)[chains]) {
        const float d = gpu::half_bits_to_f32(std::uint16_t(m.w[0] & 0xFFFF));
        const float dmin = gpu::half_bits_to_f32(std::uint16_t(m.w[0] >> 16));
        // Lane c's 24 bits start at bit 24c: (lo, hi, shift) = (w1,w2,0) (w1,w2,24) (w2,w3,16) (w3,w3,8).
        const std::uint32_t lo = c < 2 ? m.w[1] : c == 2 ? m.w[2] : m.w[3];
        const std::uint32_t hi = c < 2 ? m.w[2] : m.w[3];
        const std::uint32_t f = __funnelshift_r(lo, hi, unsigned(24 * c) & 31u);
        scale[0] = d * float(f & 63u);
        scale[1] = d * float((f >> 6) & 63u);
        minv[0] = dmin * float((f >> 12) & 63u);
        minv[1] = dmin * float((f >> 18) & 63u);
    }
    /// Integer codes of slot t (unscaled, before the min).
    GRETA_DEVICE static void slot_codes(const uint4 (&v)[payload_u4], int t, float (&q)[4]) {
        const std::uint32_t w = gpu::u4_word(v[(t % 8) / 4], t % 4);
        const int hi = (t / 8) * 4;
#pragma unroll
        for (int j = 0; j < 4; ++j) q[j] = float((w >> (8 * slot_byte(j) + hi)) & 0xF);
    }
#endif
};

// ---------------------------------------------------------------------------------------------
/// Q6_K. Lane c owns half h = c/2 and positions l in [16(c%2), +16): ql bytes l and l+32, qh
/// byte l. Chain ch (slots 4ch..4ch+3, word t%4) is sub-block 8h + c%2 + 2ch: ch 0/1 take the
/// low nibbles of ql[l] / ql[l+32], ch 2/3 the high nibbles, and qh bits 2ch..2ch+1.
template <>
struct Format<DType::Q6_K> {
    static constexpr DType dtype = DType::Q6_K;
    /// aux holds d padded to 4 bytes, so asynchronous 4-byte copies stay aligned (+1% bytes).
    static constexpr int payload_u4 = 3, meta_bytes = 16, aux_bytes = 4;
    static constexpr int meta_lane_bytes = 16;
    GRETA_HOST_DEVICE static constexpr int meta_lane_offset(int) { return 0; }
    static constexpr int chains = 4, chain_slots = 4;
    static constexpr bool has_mins = false;
    static constexpr bool mma = true;
    static constexpr bool slot_swapped = true;

    GRETA_HOST_DEVICE static constexpr int kmap(int c, int t, int j) {
        return 128 * (c / 2) + 32 * (t / 4) + 16 * (c % 2) + 4 * (t % 4) + slot_byte(j);
    }
    GRETA_HOST_DEVICE static constexpr void slot_of(int kk, int& c, int& t, int& j) {
        const int h = kk / 128, r = kk % 128, ch = r / 32, l = r % 32;
        c = 2 * h + l / 16;
        t = 4 * ch + (l % 16) / 4;
        j = slot_byte(l % 4);
    }
    static void repack_sb(const std::byte* src, std::byte* payload, std::byte* meta, std::byte* aux) {
        const auto* b = reinterpret_cast<const quant::BlockQ6K*>(src);
        for (int c = 0; c < 4; ++c) {
            const int h = c / 2, l0 = 16 * (c % 2);
            std::memcpy(payload + 0 * 64 + c * 16, b->ql + 64 * h + l0, 16);
            std::memcpy(payload + 1 * 64 + c * 16, b->ql + 64 * h + 32 + l0, 16);
            std::memcpy(payload + 2 * 64 + c * 16, b->qh + 32 * h + l0, 16);
        }
        std::memcpy(meta, b->scales, 16);
        std::memcpy(aux, &b->d, 2);
        std::memset(aux + 2, 0, 2);
    }
#if GRETA_GPU_COMPILER
    GRETA_DEVICE static void load_meta(const std::byte* meta_sb, const std::byte* aux_sb, int, MetaRegs& m) {
        const uint4 v = gpu::load_u4(meta_sb);
        m.w[0] = v.x, m.w[1] = v.y, m.w[2] = v.z, m.w[3] = v.w;
        m.aux = gpu::load_u16(aux_sb);
    }
    GRETA_DEVICE static void chain_scales(const MetaRegs& m, int c, float (&scale)[chains], float (&minv)[chains]) {
        const float d = gpu::half_bits_to_f32(std::uint16_t(m.aux));
#pragma unroll
        for (int ch = 0; ch < 4; ++ch) {
            const int s = 8 * (c / 2) + (c % 2) + 2 * ch;
            const int word = s / 4;  // selects, not an indexed register array (local memory)
            const std::uint32_t w = word == 0 ? m.w[0] : word == 1 ? m.w[1] : word == 2 ? m.w[2] : m.w[3];
            const auto sc = std::int8_t(w >> (8 * (s % 4)));
            scale[ch] = d * float(sc);
            minv[ch] = 0.0f;
        }
    }
    GRETA_DEVICE static void slot_codes(const uint4 (&v)[payload_u4], int t, float (&q)[4]) {
        const int ch = t / 4, m = t % 4;
        const std::uint32_t ql = gpu::u4_word(v[ch % 2], m), qh = gpu::u4_word(v[2], m);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int byte = slot_byte(j);
            const std::uint32_t lo = (ql >> (8 * byte + (ch / 2) * 4)) & 0xF;
            const std::uint32_t hi = (qh >> (8 * byte + 2 * ch)) & 0x3;
            q[j] = float(int(lo | (hi << 4)) - 32);
        }
    }
#endif
};

// ---------------------------------------------------------------------------------------------
/// Q8_0: an SB is 8 blocks of 32. Lane c owns blocks 2c (chain 0) and 2c+1 (chain 1).
template <>
struct Format<DType::Q8_0> {
    static constexpr DType dtype = DType::Q8_0;
    static constexpr int payload_u4 = 4, meta_bytes = 16, aux_bytes = 0;
    static constexpr int meta_lane_bytes = 4;  ///< d of blocks 2c and 2c+1
    GRETA_HOST_DEVICE static constexpr int meta_lane_offset(int c) { return 4 * c; }
    static constexpr int chains = 2, chain_slots = 8;
    static constexpr bool has_mins = false;
    static constexpr bool mma = true;
    static constexpr bool slot_swapped = false;

    GRETA_HOST_DEVICE static constexpr int kmap(int c, int t, int j) { return 64 * c + 32 * (t / 8) + 4 * (t % 8) + j; }
    GRETA_HOST_DEVICE static constexpr void slot_of(int kk, int& c, int& t, int& j) {
        c = kk / 64;
        const int r = kk % 64;
        t = (r / 32) * 8 + (r % 32) / 4;
        j = r % 4;
    }
    /// `src` holds up to 8 blocks; `blocks` of them are real, the rest are zero padding.
    static void repack_sb(const std::byte* src, std::byte* payload, std::byte* meta, std::byte*, int blocks = 8) {
        const auto* b = reinterpret_cast<const quant::BlockQ8_0*>(src);
        std::memset(payload, 0, 256);
        std::memset(meta, 0, 16);
        for (int n = 0; n < payload_u4; ++n)
            for (int c = 0; c < 4; ++c) {
                const int blk = 2 * c + n / 2;
                if (blk < blocks) std::memcpy(payload + n * 64 + c * 16, b[blk].qs + 16 * (n % 2), 16);
            }
        for (int blk = 0; blk < blocks; ++blk) std::memcpy(meta + 2 * blk, &b[blk].d, 2);
    }
#if GRETA_GPU_COMPILER
    GRETA_DEVICE static void load_meta(const std::byte* meta_sb, const std::byte*, int c, MetaRegs& m) {
        m.w[0] = gpu::load_u32(meta_sb + 4 * c);  // d of blocks 2c and 2c+1
    }
    GRETA_DEVICE static void chain_scales(const MetaRegs& m, int, float (&scale)[chains], float (&minv)[chains]) {
        scale[0] = gpu::half_bits_to_f32(std::uint16_t(m.w[0] & 0xFFFF));
        scale[1] = gpu::half_bits_to_f32(std::uint16_t(m.w[0] >> 16));
        minv[0] = minv[1] = 0.0f;
    }
    GRETA_DEVICE static void slot_codes(const uint4 (&v)[payload_u4], int t, float (&q)[4]) {
        const int m = t % 8;
        const std::uint32_t w = gpu::u4_word(v[(t / 8) * 2 + m / 4], m % 4);
#pragma unroll
        for (int j = 0; j < 4; ++j) q[j] = float(std::int8_t(w >> (8 * j)));
    }
#endif
};

// ---------------------------------------------------------------------------------------------
/// Float formats: the row itself (zero padded). Lane c's load n holds values [32n + 8c, +8)
/// for 2-byte types (slot t = 2n + half) and [16n + 4c, +4) for F32 (slot t = n).
template <DType T>
    requires(T == DType::F16 || T == DType::BF16)
struct Format<T> {
    static constexpr DType dtype = T;
    static constexpr int payload_u4 = 8, meta_bytes = 0, aux_bytes = 0;
    static constexpr int meta_lane_bytes = 0;
    GRETA_HOST_DEVICE static constexpr int meta_lane_offset(int) { return 0; }
    static constexpr int chains = 1, chain_slots = 16;
    static constexpr bool has_mins = false;
    static constexpr bool mma = T == DType::F16;
    static constexpr bool slot_swapped = false;

    GRETA_HOST_DEVICE static constexpr int kmap(int c, int t, int j) { return 32 * (t / 2) + 8 * c + 4 * (t % 2) + j; }
    GRETA_HOST_DEVICE static constexpr void slot_of(int kk, int& c, int& t, int& j) {
        const int r = kk % 32;
        c = r / 8;
        t = 2 * (kk / 32) + (r % 8) / 4;
        j = r % 4;
    }
#if GRETA_GPU_COMPILER
    GRETA_DEVICE static void load_meta(const std::byte*, const std::byte*, int, MetaRegs&) {}
    GRETA_DEVICE static void chain_scales(const MetaRegs&, int, float (&scale)[chains], float (&minv)[chains]) {
        scale[0] = 1.0f;
        minv[0] = 0.0f;
    }
    GRETA_DEVICE static void slot_codes(const uint4 (&v)[payload_u4], int t, float (&q)[4]) {
        const std::uint32_t w0 = gpu::u4_word(v[t / 2], 2 * (t % 2)), w1 = gpu::u4_word(v[t / 2], 2 * (t % 2) + 1);
        const std::uint16_t h[4] = {std::uint16_t(w0), std::uint16_t(w0 >> 16), std::uint16_t(w1), std::uint16_t(w1 >> 16)};
#pragma unroll
        for (int j = 0; j < 4; ++j) q[j] = T == DType::F16 ? gpu::half_bits_to_f32(h[j]) : bf16_to_f32(h[j]);
    }
#endif
};

template <>
struct Format<DType::F32> {
    static constexpr DType dtype = DType::F32;
    static constexpr int payload_u4 = 16, meta_bytes = 0, aux_bytes = 0;
    static constexpr int meta_lane_bytes = 0;
    GRETA_HOST_DEVICE static constexpr int meta_lane_offset(int) { return 0; }
    static constexpr int chains = 1, chain_slots = 16;
    static constexpr bool has_mins = false;
    static constexpr bool mma = false;
    static constexpr bool slot_swapped = false;

    GRETA_HOST_DEVICE static constexpr int kmap(int c, int t, int j) { return 16 * t + 4 * c + j; }
    GRETA_HOST_DEVICE static constexpr void slot_of(int kk, int& c, int& t, int& j) {
        t = kk / 16;
        c = (kk % 16) / 4;
        j = kk % 4;
    }
#if GRETA_GPU_COMPILER
    GRETA_DEVICE static void load_meta(const std::byte*, const std::byte*, int, MetaRegs&) {}
    GRETA_DEVICE static void chain_scales(const MetaRegs&, int, float (&scale)[chains], float (&minv)[chains]) {
        scale[0] = 1.0f;
        minv[0] = 0.0f;
    }
    GRETA_DEVICE static void slot_codes(const uint4 (&v)[payload_u4], int t, float (&q)[4]) {
        q[0] = __uint_as_float(v[t].x), q[1] = __uint_as_float(v[t].y);
        q[2] = __uint_as_float(v[t].z), q[3] = __uint_as_float(v[t].w);
    }
#endif
};

/// The formats a device matrix can have.
constexpr bool device_format_supported(DType t) {
    return t == DType::Q4_K || t == DType::Q6_K || t == DType::Q8_0 || t == DType::F16 || t == DType::BF16 ||
           t == DType::F32;
}

/// Calls f.template operator()<DType>() with the compile-time format of `t`.
template <class F>
decltype(auto) dispatch_format(DType t, F&& f) {
    switch (t) {
        case DType::Q4_K: return f.template operator()<DType::Q4_K>();
        case DType::Q6_K: return f.template operator()<DType::Q6_K>();
        case DType::Q8_0: return f.template operator()<DType::Q8_0>();
        case DType::F16: return f.template operator()<DType::F16>();
        case DType::BF16: return f.template operator()<DType::BF16>();
        case DType::F32: return f.template operator()<DType::F32>();
        default: throw Error("no GPU kernels for weight type " + std::string(dtype_name(t)));
    }
}

/// Geometry of one matrix in device layout.
struct MatrixLayout {
    DType type = DType::F32;
    std::uint32_t rows = 0;
    std::uint32_t k = 0;    ///< true row length
    std::uint32_t nsb = 0;  ///< super-blocks per row (K padded to 256)
    std::uint32_t payload_sb = 0, meta_sb = 0, aux_sb = 0;  ///< bytes per SB per row
    /// Rows whose super-blocks are interleaved: each image is [rows / group_rows][nsb][group_rows]
    /// cells of one SB of one row, so the GEMV's 16-row tile reads one contiguous block per
    /// super-block instead of 16 lines a row apart (1 = plain row-major).
    std::uint32_t group_rows = 1;

    /// Where row `row`'s super-block 0 starts in an image of `per_sb` bytes per SB per row.
    GRETA_HOST_DEVICE std::uint64_t row_offset(std::uint32_t row, std::uint32_t per_sb) const {
        const std::uint32_t group = row / group_rows, in_group = row % group_rows;
        return (std::uint64_t(group) * nsb * group_rows + in_group) * per_sb;
    }
    GRETA_HOST_DEVICE std::uint64_t payload_offset(std::uint32_t row) const { return row_offset(row, payload_sb); }
    GRETA_HOST_DEVICE std::uint64_t meta_offset(std::uint32_t row) const { return row_offset(row, meta_sb); }
    GRETA_HOST_DEVICE std::uint64_t aux_offset(std::uint32_t row) const { return row_offset(row, aux_sb); }
    /// Bytes from one super-block of a row to its next.
    GRETA_HOST_DEVICE std::uint64_t payload_step() const { return std::uint64_t(group_rows) * payload_sb; }
    GRETA_HOST_DEVICE std::uint64_t meta_step() const { return std::uint64_t(group_rows) * meta_sb; }
    GRETA_HOST_DEVICE std::uint64_t aux_step() const { return std::uint64_t(group_rows) * aux_sb; }

    GRETA_HOST_DEVICE std::uint64_t payload_row_bytes() const { return std::uint64_t(nsb) * payload_sb; }
    GRETA_HOST_DEVICE std::uint64_t meta_row_bytes() const { return std::uint64_t(nsb) * meta_sb; }
    GRETA_HOST_DEVICE std::uint64_t aux_row_bytes() const { return std::uint64_t(nsb) * aux_sb; }
    std::uint64_t payload_bytes() const { return payload_row_bytes() * rows; }
    std::uint64_t meta_bytes() const { return meta_row_bytes() * rows; }
    std::uint64_t aux_bytes() const { return aux_row_bytes() * rows; }
    /// Bytes read from device memory by one pass over the matrix.
    std::uint64_t total_bytes() const { return payload_bytes() + meta_bytes() + aux_bytes(); }
};

/// Row order of a quantized matrix in device memory: Grouped interleaves kGroupRows rows per
/// super-block where the row count allows (MatrixLayout::group_rows), Plain keeps rows whole.
enum class RowOrder { Plain, Grouped };

inline MatrixLayout matrix_layout(DType type, std::uint64_t rows, std::uint64_t k, RowOrder order = RowOrder::Grouped) {
    check(device_format_supported(type), [&] { return "no GPU kernels for weight type " + std::string(dtype_name(type)); });
    check(rows > 0 && k > 0 && rows < (1ull << 31) && k < (1ull << 31),
          [&] { return "matrix shape " + std::to_string(rows) + " x " + std::to_string(k) + " out of range"; });
    MatrixLayout l;
    l.type = type;
    l.rows = std::uint32_t(rows);
    l.k = std::uint32_t(k);
    l.nsb = std::uint32_t((k + kSbValues - 1) / kSbValues);
    dispatch_format(type, [&]<DType T>() {
        using F = Format<T>;
        l.payload_sb = F::payload_u4 * 64;
        l.meta_sb = F::meta_bytes;
        l.aux_sb = F::aux_bytes;
        // Quantized rows interleave in groups of the GEMV's tile (H100 measurements in
        // docs/BENCHMARKS.md). Float rows stay row-major: the prefill GEMM reads F16 through
        // 2-D TMA boxes.
        if (order == RowOrder::Grouped && F::mma && T != DType::F16 && rows % kGroupRows == 0) l.group_rows = kGroupRows;
    });
    return l;
}

/// Repacks rows [begin, end) of `src` (GGUF layout) into device layout. Destination pointers
/// point at row `origin`'s place in the payload/meta/aux images (origin <= begin, a multiple of
/// l.group_rows: the start of the image or of an upload chunk); output row r takes source row
/// `row_map ? row_map[r] : r`.
inline void repack_rows(const TensorView& src, const MatrixLayout& l, std::uint64_t begin, std::uint64_t end,
                        std::byte* payload, std::byte* meta, std::byte* aux, const std::uint32_t* row_map = nullptr,
                        std::uint64_t origin = 0) {
    ensure(origin <= begin && origin % l.group_rows == 0, "repack_rows: origin starts a row group");
    const std::uint64_t src_stride = src.row_stride_bytes();
    const auto o = std::uint32_t(origin);
    const std::uint64_t ps = l.payload_step(), ms = l.meta_step(), as = l.aux_step();
    dispatch_format(l.type, [&]<DType T>() {
        using F = Format<T>;
        for (std::uint64_t r = begin; r < end; ++r) {
            const std::byte* row = src.data + (row_map ? row_map[r] : r) * src_stride;
            const auto rr = std::uint32_t(r);
            std::byte* p = payload + (l.payload_offset(rr) - l.payload_offset(o));
            std::byte* m = meta + (l.meta_offset(rr) - l.meta_offset(o));
            std::byte* a = aux + (l.aux_offset(rr) - l.aux_offset(o));
            if constexpr (T == DType::Q4_K || T == DType::Q6_K) {
                const std::size_t bb = dtype_info(T).block_bytes;
                for (std::uint32_t sb = 0; sb < l.nsb; ++sb)
                    F::repack_sb(row + sb * bb, p + sb * ps, m + sb * ms, a + sb * as);
            } else if constexpr (T == DType::Q8_0) {
                const std::uint32_t blocks = l.k / 32;
                for (std::uint32_t sb = 0; sb < l.nsb; ++sb) {
                    const int n = int(std::min<std::uint32_t>(8, blocks - sb * 8));
                    F::repack_sb(row + std::size_t(sb) * 8 * 34, p + sb * ps, m + sb * ms, nullptr, n);
                }
            } else {
                ensure(l.group_rows == 1, "float rows are stored row-major");
                // Float rows: lane c's load n is exactly bytes [n*64 + c*16, +16) of the row.
                const std::size_t bytes = std::size_t(l.k) * dtype_info(T).block_bytes;
                std::memcpy(p, row, bytes);
                std::memset(p + bytes, 0, l.payload_row_bytes() - bytes);
            }
        }
    });
}

}  // namespace greta::kernels
