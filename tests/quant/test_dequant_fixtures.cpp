// Dequantization must give llama.cpp's values bit for bit: the fixtures are llama.cpp's reference
// dequantizer applied to tensors of the synthetic GGUF files (row-major [rows x cols] float32).
// The tensors' bytes are found with a test-local GGUF locator (gguf_tensors.hpp).
#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <greta/quant.hpp>

#include "gguf_tensors.hpp"
#include "shared_files.hpp"

using namespace greta;
using namespace greta::quant;

namespace {

struct Fixture {
    const char* model;   // models/<model>.gguf
    const char* tensor;
    DType type;
};

constexpr Fixture kFixtures[] = {
    {"synthetic-tiny-q4_k_m", "blk.0.attn_q.weight", DType::Q4_K},
    {"synthetic-tiny-q4_k_m", "blk.0.ffn_down.weight", DType::Q4_K},
    {"synthetic-tiny-q4_k_m", "blk.1.ffn_down.weight", DType::Q6_K},
    {"synthetic-tiny-q4_k_m", "output.weight", DType::Q6_K},
    {"synthetic-tiny-q6_k", "blk.0.ffn_down.weight", DType::Q6_K},
    {"synthetic-tiny-q8_0", "blk.0.attn_q.weight", DType::Q8_0},
};

std::uint32_t bits(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

template <class Block>
void check_blocks_one_by_one(const std::byte* data, const std::vector<float>& ref) {
    const std::size_t nb = ref.size() / Block::values;
    std::size_t mismatches = 0;
    for (std::size_t b = 0; b < nb; ++b) {
        Block blk;
        std::memcpy(&blk, data + b * sizeof(Block), sizeof(Block));
        float out[Block::values];
        dequantize_block(blk, out);
        for (std::size_t i = 0; i < Block::values; ++i)
            mismatches += bits(out[i]) != bits(ref[b * Block::values + i]);
    }
    CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("dequantization matches llama.cpp's fixtures bit for bit", "[quant][fixtures]") {
    for (const Fixture& f : kFixtures) {
        const std::string model_rel = std::string("models/") + f.model + ".gguf";
        const std::string ref_rel = std::string("fixtures/ref/") + f.model + "." + f.tensor + "." +
                                    std::string(dtype_name(f.type)) + ".dequant.f32";
        DYNAMIC_SECTION(f.model << " " << f.tensor) {
            GRETA_SHARED_OR_SKIP(model_path, model_rel);
            GRETA_SHARED_OR_SKIP(ref_path, ref_rel);
            const test::GgufTensors file(model_path);
            const test::GgufTensor& t = file.tensor(f.tensor);
            REQUIRE(t.type == static_cast<std::uint32_t>(f.type));
            REQUIRE(t.ne.size() == 2);
            const std::vector<float> ref = test::read_array<float>(ref_path);
            REQUIRE(ref.size() == t.n_elements());

            // Row by row through the dispatching entry point, as the CPU backend reads weights.
            const std::size_t cols = t.ne[0], rows = t.ne[1];
            const std::size_t stride = *row_bytes(f.type, cols);
            std::vector<float> row(cols);
            std::size_t mismatches = 0, first_bad = ref.size();
            for (std::size_t r = 0; r < rows; ++r) {
                dequantize_row(f.type, t.data + r * stride, row.data(), cols);
                for (std::size_t c = 0; c < cols; ++c) {
                    if (bits(row[c]) != bits(ref[r * cols + c])) {
                        if (mismatches++ == 0) first_bad = r * cols + c;
                    }
                }
            }
            INFO("first mismatch at element " << first_bad);
            CHECK(mismatches == 0);

            // The per-block device-capable functions, on blocks copied out of the file.
            switch (f.type) {
                case DType::Q4_K: check_blocks_one_by_one<BlockQ4K>(t.data, ref); break;
                case DType::Q6_K: check_blocks_one_by_one<BlockQ6K>(t.data, ref); break;
                case DType::Q8_0: check_blocks_one_by_one<BlockQ8_0>(t.data, ref); break;
                default: FAIL("unexpected type");
            }
        }
    }
}

TEST_CASE("dot_row on llama.cpp-quantized rows matches a double dot with the fixture values",
          "[quant][fixtures][dot]") {
    for (const Fixture& f : kFixtures) {
        const std::string model_rel = std::string("models/") + f.model + ".gguf";
        const std::string ref_rel = std::string("fixtures/ref/") + f.model + "." + f.tensor + "." +
                                    std::string(dtype_name(f.type)) + ".dequant.f32";
        DYNAMIC_SECTION(f.model << " " << f.tensor) {
            GRETA_SHARED_OR_SKIP(model_path, model_rel);
            GRETA_SHARED_OR_SKIP(ref_path, ref_rel);
            const test::GgufTensors file(model_path);
            const test::GgufTensor& t = file.tensor(f.tensor);
            const std::vector<float> ref = test::read_array<float>(ref_path);
            const std::size_t cols = t.ne[0], rows = t.ne[1];
            const std::size_t stride = *row_bytes(f.type, cols);
            std::vector<float> x(cols);
            for (std::size_t c = 0; c < cols; ++c) x[c] = float((c * 37) % 101) / 50.0f - 1.0f;
            for (std::size_t r = 0; r < rows; r += 7) {
                double exact = 0.0, magnitude = 0.0;
                for (std::size_t c = 0; c < cols; ++c) {
                    exact += double(ref[r * cols + c]) * x[c];
                    magnitude += std::abs(double(ref[r * cols + c]) * x[c]);
                }
                const double got = dot_row(f.type, t.data + r * stride, x.data(), cols);
                // FP32 rounding of the products and of 16 chains of cols/16 additions plus the
                // final pairwise sum bounds the error (a standard summation bound).
                const double bound = (double(cols) / 16 + 6) * 0x1p-24 * magnitude;
                INFO("row " << r);
                REQUIRE(std::abs(got - exact) <= bound);
            }
        }
    }
}
