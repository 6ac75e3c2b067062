// Row functions: dot_row against a double-precision dot of the dequantized row, the vectorizable
// F16 conversion against the core one for every bit pattern, and the errors of the dispatch.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <greta/quant.hpp>

#include "error_message.hpp"

using namespace greta;
using namespace greta::quant;

namespace {

std::vector<std::byte> quantized(DType t, const std::vector<float>& x) {
    std::vector<std::byte> q(*row_bytes(t, x.size()));
    quantize_row(t, x.data(), q.data(), x.size());
    return q;
}

std::vector<float> random_vector(std::size_t n, std::mt19937& rng, float sigma) {
    std::normal_distribution<float> g(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& e : v) e = g(rng);
    return v;
}

}  // namespace

TEST_CASE("dot_row equals the double-precision dot of the dequantized row within FP32 rounding",
          "[quant][dot]") {
    std::mt19937 rng(1);
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
        const std::size_t block = dtype_info(t).block_values;
        for (std::size_t n : {256ul, 4096ul, 11008ul, 256ul * 3 + 32ul * 5, 16ul * 7 + 3ul, 1ul}) {
            if (n % block != 0) continue;
            DYNAMIC_SECTION(dtype_name(t) << " n=" << n) {
                const auto w = random_vector(n, rng, 0.02f);
                const auto x = random_vector(n, rng, 1.0f);
                const auto q = quantized(t, w);
                std::vector<float> deq(n);
                dequantize_row(t, q.data(), deq.data(), n);
                double exact = 0.0, magnitude = 0.0;
                for (std::size_t i = 0; i < n; ++i) {
                    exact += double(deq[i]) * x[i];
                    magnitude += std::abs(double(deq[i]) * x[i]);
                }
                const double got = dot_row(t, q.data(), x.data(), n);
                // Products rounded once, 16 chains of n/16 additions, a 4-level pairwise sum and
                // a tail: a standard bound for recursive FP32 summation.
                const double bound = (double(n) / 16 + 8) * 0x1p-24 * magnitude;
                INFO("got " << got << " exact " << exact << " bound " << bound);
                CHECK(std::abs(got - exact) <= bound);
            }
        }
    }
}

TEST_CASE("dot_row of a one-hot x picks out single dequantized values", "[quant][dot]") {
    std::mt19937 rng(2);
    for (DType t : {DType::F16, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
        const std::size_t n = 512;
        const auto q = quantized(t, random_vector(n, rng, 1.0f));
        std::vector<float> deq(n);
        dequantize_row(t, q.data(), deq.data(), n);
        for (std::size_t i = 0; i < n; i += 37) {
            std::vector<float> x(n, 0.0f);
            x[i] = 1.0f;
            INFO(dtype_name(t) << " element " << i);
            REQUIRE(dot_row(t, q.data(), x.data(), n) == deq[i]);
        }
    }
}

TEST_CASE("row conversions of F16 and BF16 agree with the core conversions on every pattern",
          "[quant][convert]") {
    std::vector<std::uint16_t> all(65536);
    for (std::uint32_t u = 0; u < 65536; ++u) all[u] = std::uint16_t(u);
    std::vector<float> out(65536);
    dequantize_row(DType::F16, reinterpret_cast<const std::byte*>(all.data()), out.data(), all.size());
    std::size_t bad = 0;
    for (std::uint32_t u = 0; u < 65536; ++u) {
        const float ref = fp16_to_f32(std::uint16_t(u));  // tested against the compiler in core
        bad += std::memcmp(&ref, &out[u], 4) != 0;       // NaN payloads too
    }
    CHECK(bad == 0);
    dequantize_row(DType::BF16, reinterpret_cast<const std::byte*>(all.data()), out.data(), all.size());
    bad = 0;
    for (std::uint32_t u = 0; u < 65536; ++u) {
        const std::uint32_t expect = u << 16;  // bfloat16 is the top half of a float
        bad += std::memcmp(&expect, &out[u], 4) != 0;
    }
    CHECK(bad == 0);
}

TEST_CASE("row functions reject unsupported types, partial blocks and misaligned rows",
          "[quant][errors]") {
    using Catch::Matchers::ContainsSubstring;
    alignas(8) std::byte buf[4096] = {};
    float x[1024] = {};
    float out[1024];
    CHECK_THAT(test::error_message([&] { dequantize_row(DType::Q4_0, buf, out, 32); }),
               ContainsSubstring("dequantize_row") && ContainsSubstring("Q4_0"));
    CHECK_THAT(test::error_message([&] { dot_row(DType::Q5_K, buf, x, 256); }),
               ContainsSubstring("Q5_K"));
    CHECK_THAT(test::error_message([&] { quantize_row(DType::Q2_K, x, buf, 256); }),
               ContainsSubstring("Q2_K"));
    CHECK_THAT(test::error_message([&] { dot_row(static_cast<DType>(4), buf, x, 256); }),
               ContainsSubstring("id 4"));
    CHECK_THAT(test::error_message([&] { dequantize_row(DType::Q4_K, buf, out, 100); }),
               ContainsSubstring("100 values") && ContainsSubstring("Q4_K") &&
                             ContainsSubstring("256"));
    CHECK_THAT(test::error_message([&] { dot_row(DType::Q8_0, buf, x, 40); }),
               ContainsSubstring("Q8_0"));
    CHECK_THAT(test::error_message([&] { quantize_row(DType::Q6_K, x, buf, 255); }),
               ContainsSubstring("255 values"));
    CHECK_THAT(test::error_message([&] { dot_row(DType::Q4_K, buf + 1, x, 256); }),
               ContainsSubstring("aligned"));
    CHECK_THAT(test::error_message([&] { dequantize_row(DType::F16, buf + 1, out, 16); }),
               ContainsSubstring("aligned"));
    // quantize_row writes bytes, so any destination alignment works.
    std::vector<float> w(256, 0.5f);
    CHECK_NOTHROW(quantize_row(DType::Q4_K, w.data(), buf + 1, 256));
    CHECK_NOTHROW(quantize_row(DType::F16, w.data(), buf + 1, 256));
    // Empty rows are fine and give 0.
    CHECK(dot_row(DType::Q4_K, buf, x, 0) == 0.0f);
}

TEST_CASE("dot_row throughput", "[.][bench][quant]") {
    // Not run by default: `test_quant "[bench]"` prints single-thread GFLOP/s at 4096 x 4096.
    std::mt19937 rng(4);
    const std::size_t n = 4096, rows = 4096;
    const auto x = random_vector(n, rng, 1.0f);
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
        const auto row = quantized(t, random_vector(n, rng, 0.02f));
        const std::size_t stride = row.size();
        std::vector<std::byte> m(stride * rows);
        for (std::size_t r = 0; r < rows; ++r) std::memcpy(m.data() + r * stride, row.data(), stride);
        float sink = 0.0f;
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t r = 0; r < rows; ++r) sink += dot_row(t, m.data() + r * stride, x.data(), n);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        WARN(dtype_name(t) << ": " << 2.0 * n * rows / s * 1e-9 << " GFLOP/s, "
                           << double(m.size()) / s * 1e-9 << " GB/s of weights (sink " << sink << ")");
    }
}
