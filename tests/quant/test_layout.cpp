// Block layouts must be GGUF's byte for byte: sizes, field offsets, and the geometry core/dtype.hpp
// advertises for each type.
#include <catch2/catch_test_macros.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <type_traits>

#include <greta/quant.hpp>

using namespace greta;
using namespace greta::quant;

// GGUF (ggml-common.h) layouts, written out by hand: offsets of every field.
static_assert(offsetof(BlockQ8_0, d) == 0 && offsetof(BlockQ8_0, qs) == 2);
static_assert(offsetof(BlockQ4K, d) == 0 && offsetof(BlockQ4K, dmin) == 2);
static_assert(offsetof(BlockQ4K, scales) == 4 && offsetof(BlockQ4K, qs) == 16);
static_assert(offsetof(BlockQ6K, ql) == 0 && offsetof(BlockQ6K, qh) == 128);
static_assert(offsetof(BlockQ6K, scales) == 192 && offsetof(BlockQ6K, d) == 208);
static_assert(std::is_standard_layout_v<BlockQ4K> && std::is_trivially_copyable_v<BlockQ4K>);
static_assert(std::is_standard_layout_v<BlockQ6K> && std::is_trivially_copyable_v<BlockQ6K>);
static_assert(std::is_standard_layout_v<BlockQ8_0> && std::is_trivially_copyable_v<BlockQ8_0>);

template <class Block>
static void check_geometry() {
    const DTypeInfo info = dtype_info(Block::dtype);
    CHECK(info.block_bytes == sizeof(Block));
    CHECK(info.block_values == Block::values);
    CHECK(info.supported);
    CHECK(row_type_supported(Block::dtype));
}

TEST_CASE("block structs have GGUF's sizes and match dtype_info", "[quant][layout]") {
    STATIC_CHECK(sizeof(BlockQ4K) == 144);
    STATIC_CHECK(sizeof(BlockQ6K) == 210);
    STATIC_CHECK(sizeof(BlockQ8_0) == 34);
    check_geometry<BlockQ4K>();
    check_geometry<BlockQ6K>();
    check_geometry<BlockQ8_0>();
    // Arrays of blocks are packed: GGUF rows are contiguous blocks with no padding.
    STATIC_CHECK(sizeof(BlockQ4K[3]) == 3 * 144);
    STATIC_CHECK(sizeof(BlockQ6K[3]) == 3 * 210);
    STATIC_CHECK(sizeof(BlockQ8_0[3]) == 3 * 34);
}

// The Q4_K 6-bit packing, spelled out bit by bit as an independent oracle.
static int oracle_scale(const std::uint8_t* s, int j) {
    return j < 4 ? (s[j] & 0x3F) : ((s[j + 4] & 0x0F) | (((s[j - 4] >> 6) & 3) << 4));
}
static int oracle_min(const std::uint8_t* s, int j) {
    return j < 4 ? (s[j + 4] & 0x3F) : (((s[j + 4] >> 4) & 0x0F) | (((s[j] >> 6) & 3) << 4));
}

TEST_CASE("Q4_K six-bit scale/min unpacking and packing", "[quant][layout]") {
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int trial = 0; trial < 2000; ++trial) {
        std::uint8_t s[12];
        for (auto& b : s) b = std::uint8_t(byte(rng));
        for (int j = 0; j < 8; ++j) {
            const Q4KScaleMin sm = q4k_scale_min(s, j);
            REQUIRE(sm.scale == oracle_scale(s, j));
            REQUIRE(sm.min == oracle_min(s, j));
        }
    }
    // Packing every (j, sc, m) into random bytes reads back, and leaves the other fields alone.
    for (int j = 0; j < 8; ++j) {
        for (int sc = 0; sc < 64; ++sc) {
            for (int m = 0; m < 64; ++m) {
                std::uint8_t s[12];
                for (auto& b : s) b = std::uint8_t(byte(rng));
                Q4KScaleMin before[8];
                for (int k = 0; k < 8; ++k) before[k] = q4k_scale_min(s, k);
                q4k_set_scale_min(s, j, std::uint8_t(sc), std::uint8_t(m));
                for (int k = 0; k < 8; ++k) {
                    const Q4KScaleMin now = q4k_scale_min(s, k);
                    REQUIRE(int(now.scale) == (k == j ? sc : int(before[k].scale)));
                    REQUIRE(int(now.min) == (k == j ? m : int(before[k].min)));
                }
            }
        }
    }
}
