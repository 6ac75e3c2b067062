#pragma once
/// @file Tensor element types with GGUF's numeric ids, and their block geometry.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace greta {

/// GGML/GGUF tensor type ids (the numbers stored in a GGUF tensor table).
enum class DType : std::uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, BF16 = 30,
};

/// Geometry of one storage block: `values` elements packed in `bytes` bytes.
struct DTypeInfo {
    std::string_view name;
    std::uint32_t block_values;
    std::uint32_t block_bytes;
    bool supported;  ///< GRETA can dequantize it
};

/// Info for any GGML type id, or nullopt for ids GGML does not define (or that were removed).
constexpr std::optional<DTypeInfo> dtype_info(std::uint32_t id) {
    switch (id) {
        case 0: return DTypeInfo{"F32", 1, 4, true};
        case 1: return DTypeInfo{"F16", 1, 2, true};
        case 2: return DTypeInfo{"Q4_0", 32, 18, false};
        case 3: return DTypeInfo{"Q4_1", 32, 20, false};
        case 6: return DTypeInfo{"Q5_0", 32, 22, false};
        case 7: return DTypeInfo{"Q5_1", 32, 24, false};
        case 8: return DTypeInfo{"Q8_0", 32, 34, true};
        case 9: return DTypeInfo{"Q8_1", 32, 36, false};
        case 10: return DTypeInfo{"Q2_K", 256, 84, false};
        case 11: return DTypeInfo{"Q3_K", 256, 110, false};
        case 12: return DTypeInfo{"Q4_K", 256, 144, true};
        case 13: return DTypeInfo{"Q5_K", 256, 176, false};
        case 14: return DTypeInfo{"Q6_K", 256, 210, true};
        case 15: return DTypeInfo{"Q8_K", 256, 292, false};
        case 30: return DTypeInfo{"BF16", 1, 2, true};
        default: return std::nullopt;
    }
}

constexpr DTypeInfo dtype_info(DType t) { return *dtype_info(static_cast<std::uint32_t>(t)); }
constexpr std::string_view dtype_name(DType t) { return dtype_info(t).name; }

/// Bytes of a row of `n` values, or nullopt if n is not a whole number of blocks or overflows.
constexpr std::optional<std::uint64_t> row_bytes(DType t, std::uint64_t n) {
    const DTypeInfo info = dtype_info(t);
    if (n % info.block_values != 0) return std::nullopt;
    const std::uint64_t blocks = n / info.block_values;
    if (blocks > std::numeric_limits<std::uint64_t>::max() / info.block_bytes) return std::nullopt;
    return blocks * info.block_bytes;
}

}  // namespace greta
