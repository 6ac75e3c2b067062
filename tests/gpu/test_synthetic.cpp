// Synthetic models (host only): llama.cpp's Q4_K_M tensor types, valid encodings, bounded
// scales, determinism, and the GGUF written by tools/write_synthetic_gguf.
#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <greta/io/gguf.hpp>
#include <greta/io/open_model_file.hpp>
#include <greta/model/synthetic.hpp>
#include <greta/quant/row.hpp>

#include "shared_files.hpp"

using namespace greta;

TEST_CASE("Q4_K_M layer choice follows llama.cpp on a real llama-quantize output", "[synthetic]") {
    // synthetic-tiny-q4_k_m.gguf was written by llama.cpp's llama-quantize: its tensor types are
    // the reference for the preset of the same shape.
    GRETA_SHARED_OR_SKIP(path, "models/synthetic-tiny-q4_k_m.gguf");
    const auto file = io::GgufFile::open(path);
    const auto m = model::make_synthetic("tiny", "q4_k_m", 1);
    REQUIRE(m.tensors.size() == file->tensors().size());
    for (const auto& t : m.tensors) {
        const TensorView* ref = file->find_tensor(t.name);
        REQUIRE(ref != nullptr);
        INFO(t.name);
        CHECK(ref->type == t.type);
        CHECK(ref->ne == t.ne);
    }
}

TEST_CASE("use_more_bits picks llama.cpp's layers for 32-layer models", "[synthetic]") {
    // Llama-2-7B Q4_K_M: the first and last four layers, and every third one from layer 6.
    std::vector<int> more;
    for (int i = 0; i < 32; ++i)
        if (model::synthetic::use_more_bits(i, 32)) more.push_back(i);
    CHECK(more == std::vector<int>{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31});
}

TEST_CASE("synthetic weights are valid, bounded and keep the input variance", "[synthetic]") {
    for (const char* quant : {"q4_k_m", "q6_k", "q8_0", "f16"}) {
        const auto m = model::make_synthetic("tiny", quant, 3);
        for (const auto& t : m.tensors) {
            std::vector<float> v(t.n_elements());
            quant::dequantize_row(t.type, t.data, v.data(), v.size());
            double s2 = 0;
            bool finite = true;
            for (float x : v) {
                finite &= std::isfinite(x);
                s2 += double(x) * x;
            }
            INFO(quant << " " << t.name);
            REQUIRE(finite);
            const double sd = std::sqrt(s2 / double(v.size()));
            if (t.rows() == 1) {
                CHECK(sd > 0.8);  // norm weights around 1
                CHECK(sd < 1.2);
            } else if (t.name == "token_embd.weight") {
                CHECK(sd > 0.5);
                CHECK(sd < 2.0);
            } else if (t.name != "output.weight") {
                const double want = 1.0 / std::sqrt(double(t.cols()));
                CHECK(sd > 0.5 * want);
                CHECK(sd < 2.0 * want);
            }
        }
    }
}

TEST_CASE("synthetic models are deterministic in the seed, not in the thread count", "[synthetic]") {
    const auto a = model::make_synthetic("tiny", "q4_k_m", 9, 1);
    const auto b = model::make_synthetic("tiny", "q4_k_m", 9, 3);
    const auto c = model::make_synthetic("tiny", "q4_k_m", 10, 2);
    REQUIRE(a.storage_bytes == b.storage_bytes);
    CHECK(std::memcmp(a.storage.get(), b.storage.get(), a.storage_bytes) == 0);
    CHECK(std::memcmp(a.storage.get(), c.storage.get(), a.storage_bytes) != 0);
}

TEST_CASE("synthetic presets and errors", "[synthetic]") {
    const auto cfg = model::synthetic::preset_config("llama2-7b");
    CHECK(cfg == Llama2_7B::cfg);
    CHECK_THROWS_AS(model::make_synthetic("nope", "q4_k_m", 1), Error);
    CHECK_THROWS_AS(model::make_synthetic("tiny", "q5_k", 1), Error);
    CHECK_THROWS_AS(model::make_synthetic("stories260k", "q4_k_m", 1), Error);  // hidden 172: not K-quant rows
    CHECK_NOTHROW(model::make_synthetic("stories260k", "f16", 1));
}

TEST_CASE("write_synthetic_gguf writes the same model as a readable GGUF", "[synthetic][gguf]") {
    const char* tool = std::getenv("GRETA_WRITE_SYNTHETIC_GGUF");
    if (!tool || !*tool) SKIP("GRETA_WRITE_SYNTHETIC_GGUF not set (run through meson test)");
    const auto out = test::scratch_dir() / "tiny-q4_k_m.gguf";
    const std::string cmd = std::string(tool) + " tiny q4_k_m 7 " + out.string() + " > /dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    const auto file = io::open_model_file(out);
    const auto m = model::make_synthetic("tiny", "q4_k_m", 7);
    CHECK(file.config.dim == m.weights.cfg.dim);
    CHECK(file.config.n_layers == m.weights.cfg.n_layers);
    CHECK(file.config.n_kv_heads == m.weights.cfg.n_kv_heads);
    CHECK(file.config.ffn_dim == m.weights.cfg.ffn_dim);
    CHECK(file.config.vocab_size == m.weights.cfg.vocab_size);
    REQUIRE(file.tensors.size() == m.tensors.size());
    for (const auto& t : m.tensors) {
        const TensorView* r = file.find(t.name);
        REQUIRE(r != nullptr);
        INFO(t.name);
        CHECK(r->type == t.type);
        REQUIRE(r->n_bytes == t.n_bytes);
        CHECK(std::memcmp(r->data, t.data, t.n_bytes) == 0);
    }
}
