#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>

#include <greta/core/half.hpp>

// The oracle is the compiler's own IEEE conversion (_Float16 / __bf16 are not used by greta).
static std::uint16_t oracle_f32_to_fp16(float f) {
    _Float16 h = static_cast<_Float16>(f);
    std::uint16_t bits;
    std::memcpy(&bits, &h, 2);
    return bits;
}

TEST_CASE("fp16 -> f32 -> fp16 is the identity on every non-NaN half", "[core][half]") {
    for (std::uint32_t h = 0; h < 65536; ++h) {
        const float f = greta::fp16_to_f32(std::uint16_t(h));
        _Float16 ref;
        const std::uint16_t hb = std::uint16_t(h);
        std::memcpy(&ref, &hb, 2);
        if (std::isnan(f)) {
            REQUIRE(std::isnan(static_cast<float>(ref)));
            continue;
        }
        REQUIRE(f == static_cast<float>(ref));
        REQUIRE(greta::f32_to_fp16(f) == hb);
    }
}

TEST_CASE("f32 -> fp16 rounds to nearest even like the compiler", "[core][half]") {
    std::mt19937 rng(7);
    std::uniform_int_distribution<std::uint32_t> bits;
    int checked = 0;
    for (int i = 0; i < 2'000'000; ++i) {
        std::uint32_t u = bits(rng);
        // Concentrate on the half range, subnormals and overflow boundary included.
        u = (u & 0x80000000u) | ((u % (0x48000000u - 0x32000000u)) + 0x32000000u);
        float f;
        std::memcpy(&f, &u, 4);
        REQUIRE(greta::f32_to_fp16(f) == oracle_f32_to_fp16(f));
        ++checked;
    }
    CHECK(greta::f32_to_fp16(65504.0f) == 0x7BFF);
    CHECK(greta::f32_to_fp16(65520.0f) == 0x7C00);  // the tie above the max rounds to Inf
    CHECK(greta::f32_to_fp16(-0.0f) == 0x8000);
    CHECK(checked == 2'000'000);
}

TEST_CASE("bf16 conversions round to nearest even and keep NaN", "[core][half]") {
    CHECK(greta::bf16_to_f32(0x3F80) == 1.0f);
    CHECK(greta::f32_to_bf16(1.0f) == 0x3F80);
    // 1 + 2^-8 is exactly between two bf16 values: ties go to the even mantissa (1.0).
    CHECK(greta::f32_to_bf16(1.0f + 1.0f / 256) == 0x3F80);
    CHECK(greta::f32_to_bf16(1.0f + 3.0f / 256) == 0x3F82);
    CHECK(std::isnan(greta::bf16_to_f32(greta::f32_to_bf16(std::nanf("")))));
}
