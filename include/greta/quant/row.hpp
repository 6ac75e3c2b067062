#pragma once
/// @file Row operations dispatched on the tensor type at run time: dequantize_row, dot_row
/// (the CPU reference's GEMV inner loop) and quantize_row, for F32, F16, BF16, Q8_0, Q4_K, Q6_K.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include <greta/core/dtype.hpp>
#include <greta/core/error.hpp>
#include <greta/quant/bf16.hpp>
#include <greta/quant/f16.hpp>
#include <greta/quant/f32.hpp>
#include <greta/quant/q4_k.hpp>
#include <greta/quant/q6_k.hpp>
#include <greta/quant/q8_0.hpp>

namespace greta::quant {

/// True for the types the row functions accept.
constexpr bool row_type_supported(DType t) {
    switch (t) {
        case DType::F32: case DType::F16: case DType::BF16:
        case DType::Q8_0: case DType::Q4_K: case DType::Q6_K: return true;
        default: return false;
    }
}

namespace detail {

/// Independent partial sums of the dot products: 16 lanes break the addition chain so that
/// g++ -O2 turns the loop into vector multiply-adds without -ffast-math (each lane still adds
/// in order, so the result does not depend on the vector width chosen).
inline constexpr std::size_t kDotLanes = 16;

/// Values handled per step of the row loops: one K-quant super-block, 8 Q8_0 blocks, or 256
/// F16/BF16/F32 values, dequantized into a small buffer that stays in L1.
inline constexpr std::size_t kChunk = 256;

/// acc[k] += sum over i = k (mod 16) of a[i] * b[i], for n a multiple of 16.
GRETA_ALWAYS_INLINE void dot_accumulate(float* __restrict__ acc, const float* __restrict__ a,
                                        const float* __restrict__ b, std::size_t n) {
    for (std::size_t i = 0; i < n; i += kDotLanes)
        for (std::size_t k = 0; k < kDotLanes; ++k) acc[k] += a[i + k] * b[i + k];
}

/// Sums the lanes pairwise.
inline float dot_finish(float* acc) {
    for (std::size_t w = kDotLanes / 2; w > 0; w /= 2)
        for (std::size_t k = 0; k < w; ++k) acc[k] += acc[k + w];
    return acc[0];
}

[[noreturn]] inline void throw_unsupported(std::string_view op, DType t) {
    const auto info = dtype_info(static_cast<std::uint32_t>(t));
    const std::string name = info ? std::string(info->name)
                                  : "id " + std::to_string(static_cast<std::uint32_t>(t));
    throw Error(std::string(op) + ": tensor type " + name +
                " is not supported (F32, F16, BF16, Q8_0, Q4_K and Q6_K are)");
}

/// Checks the type and that n is a whole number of its blocks.
inline void check_row(std::string_view op, DType t, std::size_t n) {
    if (!row_type_supported(t)) throw_unsupported(op, t);
    const DTypeInfo info = dtype_info(t);
    if (n % info.block_values != 0)
        throw Error(std::string(op) + ": a row of " + std::to_string(n) + " values is not a whole number of " +
                    std::string(info.name) + " blocks (" + std::to_string(info.block_values) +
                    " values each)");
}

/// The row's data as an array of T; throws if it is not aligned for T (GGUF aligns tensor data
/// to 32 bytes and every block size here is even, so real rows always are).
template <class T>
const T* typed_row(std::string_view op, DType t, const std::byte* p) {
    if (reinterpret_cast<std::uintptr_t>(p) % alignof(T) != 0)
        throw Error(std::string(op) + ": " + std::string(dtype_name(t)) + " row data is not " +
                    std::to_string(alignof(T)) + "-byte aligned");
    return reinterpret_cast<const T*>(p);
}

/// Runs convert(src, dst, count) over whole chunks of kChunk, then the rest: the constant trip
/// counts let g++ -O2 vectorize the conversion (it will not add an epilogue loop by itself).
template <class E, class Convert>
void convert_chunked(const E* src, float* dst, std::size_t n, Convert convert) {
    std::size_t i = 0;
    for (; i + kChunk <= n; i += kChunk) convert(src + i, dst + i, kChunk);
    if (i < n) convert(src + i, dst + i, n - i);
}

template <class Block>
void dequantize_blocks(const Block* blocks, float* dst, std::size_t n) {
    for (std::size_t b = 0; b < n / Block::values; ++b) dequantize_block(blocks[b], dst + b * Block::values);
}

template <class Block>
float dot_blocks(const Block* blocks, const float* x, std::size_t n) {
    static_assert(kChunk % Block::values == 0);
    constexpr std::size_t per_chunk = kChunk / Block::values;
    alignas(64) float buf[kChunk];
    alignas(64) float acc[kDotLanes] = {};
    const std::size_t nb = n / Block::values;
    const std::size_t whole = nb / per_chunk * per_chunk;
    for (std::size_t b = 0; b < whole; b += per_chunk) {
        for (std::size_t k = 0; k < per_chunk; ++k) dequantize_block(blocks[b + k], buf + k * Block::values);
        dot_accumulate(acc, buf, x + b * Block::values, kChunk);
    }
    if constexpr (per_chunk > 1) {
        for (std::size_t b = whole; b < nb; ++b) {  // Q8_0 rows whose length is not a multiple of 256
            dequantize_block(blocks[b], buf);
            dot_accumulate(acc, buf, x + b * Block::values, Block::values);
        }
    }
    return dot_finish(acc);
}

/// Dot product of a row of n elements of type E with x, `convert(src, dst, count)` turning
/// elements into floats a chunk at a time (F32 rows are used in place).
template <class E, class Convert>
float dot_elements(const E* row, const float* x, std::size_t n, Convert convert) {
    alignas(64) float buf[kChunk];
    alignas(64) float acc[kDotLanes] = {};
    const std::size_t whole = n / kDotLanes * kDotLanes;
    float tail = 0.0f;
    if constexpr (std::is_same_v<E, float>) {
        dot_accumulate(acc, row, x, whole);
        for (std::size_t k = whole; k < n; ++k) tail += row[k] * x[k];
    } else {
        std::size_t i = 0;
        for (; i + kChunk <= n; i += kChunk) {  // constant trip counts: vectorized at -O2
            convert(row + i, buf, kChunk);
            dot_accumulate(acc, buf, x + i, kChunk);
        }
        if (i < n) {
            const std::size_t len = n - i, len_whole = len / kDotLanes * kDotLanes;
            convert(row + i, buf, len);
            dot_accumulate(acc, buf, x + i, len_whole);
            for (std::size_t k = len_whole; k < len; ++k) tail += buf[k] * x[i + k];
        }
    }
    return dot_finish(acc) + tail;
}

}  // namespace detail

/// Dequantizes a row of n values of type t (n a whole number of blocks) from src into dst.
/// Q8_0/Q4_K/Q6_K give llama.cpp's values bit for bit; F16/BF16 convert exactly; F32 copies.
/// Throws greta::Error for unsupported types, a partial block, or misaligned data.
inline void dequantize_row(DType t, const std::byte* src, float* dst, std::size_t n) {
    constexpr std::string_view op = "dequantize_row";
    detail::check_row(op, t, n);
    switch (t) {
        case DType::F32: std::memcpy(dst, src, n * sizeof(float)); return;
        case DType::F16:
            detail::convert_chunked(detail::typed_row<std::uint16_t>(op, t, src), dst, n,
                                    [](const std::uint16_t* s, float* d, std::size_t k) { dequantize_f16(s, d, k); });
            return;
        case DType::BF16:
            detail::convert_chunked(detail::typed_row<std::uint16_t>(op, t, src), dst, n,
                                    [](const std::uint16_t* s, float* d, std::size_t k) { dequantize_bf16(s, d, k); });
            return;
        case DType::Q8_0: detail::dequantize_blocks(detail::typed_row<BlockQ8_0>(op, t, src), dst, n); return;
        case DType::Q4_K: detail::dequantize_blocks(detail::typed_row<BlockQ4K>(op, t, src), dst, n); return;
        case DType::Q6_K: detail::dequantize_blocks(detail::typed_row<BlockQ6K>(op, t, src), dst, n); return;
        default: detail::throw_unsupported(op, t);
    }
}

/// Dot product of a row of n values of type t with x[0..n), accumulated in FP32 (16 partial
/// sums, added pairwise at the end). Blocks are dequantized exactly as dequantize_row does, a
/// chunk of 256 values at a time, so the only difference from an exact dot product of the
/// dequantized row is FP32 rounding of the sums.
/// Throws greta::Error for unsupported types, a partial block, or misaligned data.
inline float dot_row(DType t, const std::byte* row, const float* x, std::size_t n) {
    constexpr std::string_view op = "dot_row";
    detail::check_row(op, t, n);
    switch (t) {
        case DType::F32:
            return detail::dot_elements(detail::typed_row<float>(op, t, row), x, n, nullptr);
        case DType::F16:
            return detail::dot_elements(detail::typed_row<std::uint16_t>(op, t, row), x, n,
                                        [](const std::uint16_t* s, float* d, std::size_t k) { dequantize_f16(s, d, k); });
        case DType::BF16:
            return detail::dot_elements(detail::typed_row<std::uint16_t>(op, t, row), x, n,
                                        [](const std::uint16_t* s, float* d, std::size_t k) { dequantize_bf16(s, d, k); });
        case DType::Q8_0: return detail::dot_blocks(detail::typed_row<BlockQ8_0>(op, t, row), x, n);
        case DType::Q4_K: return detail::dot_blocks(detail::typed_row<BlockQ4K>(op, t, row), x, n);
        case DType::Q6_K: return detail::dot_blocks(detail::typed_row<BlockQ6K>(op, t, row), x, n);
        default: detail::throw_unsupported(op, t);
    }
}

/// Quantizes n floats into a row of type t at dst (row_bytes(t, n) bytes, any alignment).
/// Q8_0/Q4_K/Q6_K: host reference quantizers (see quantize_block of each format); NaN or Inf
/// input, or values too large for the fp16 block scales, throw greta::Error naming the index,
/// instead of silently producing NaN/Inf scales. F16/BF16: IEEE conversions, NaN -> NaN,
/// Inf -> Inf, overflow -> Inf (no scale shared with other values). F32: copied.
inline void quantize_row(DType t, const float* src, std::byte* dst, std::size_t n) {
    constexpr std::string_view op = "quantize_row";
    detail::check_row(op, t, n);
    auto blocks = [&]<class Block>(Block block) {
        for (std::size_t b = 0; b < n / Block::values; ++b) {
            quantize_block(src + b * Block::values, block, b * Block::values);
            std::memcpy(dst + b * sizeof(Block), &block, sizeof(Block));
        }
    };
    auto halves = [&](auto convert) {
        std::uint16_t buf[detail::kChunk];
        for (std::size_t i = 0; i < n; i += detail::kChunk) {
            const std::size_t len = n - i < detail::kChunk ? n - i : detail::kChunk;
            convert(src + i, buf, len);
            std::memcpy(dst + i * 2, buf, len * 2);
        }
    };
    switch (t) {
        case DType::F32: std::memcpy(dst, src, n * sizeof(float)); return;
        case DType::F16: halves([](const float* s, std::uint16_t* d, std::size_t k) { quantize_f16(s, d, k); }); return;
        case DType::BF16: halves([](const float* s, std::uint16_t* d, std::size_t k) { quantize_bf16(s, d, k); }); return;
        case DType::Q8_0: blocks(BlockQ8_0{}); return;
        case DType::Q4_K: blocks(BlockQ4K{}); return;
        case DType::Q6_K: blocks(BlockQ6K{}); return;
        default: detail::throw_unsupported(op, t);
    }
}

}  // namespace greta::quant
