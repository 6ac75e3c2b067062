// Boost.PFR reflection over ModelConfig: every field printed by name, field-by-field compare.
#include <catch2/catch_test_macros.hpp>

#include <functional>
#include <sstream>

#include <greta/config/describe.hpp>
#include <greta/io/gguf.hpp>
#include <greta/io/gguf_config.hpp>

#include "shared_files.hpp"

using namespace greta;

TEST_CASE("describe prints every field with its name", "[config][describe]") {
    const std::string s = describe(Stories260K::cfg);
    // Expected lines written out by hand from the Stories260K preset.
    const char* expected[] = {"dim = 64",        "n_layers = 5",        "n_heads = 8",        "n_kv_heads = 4",
                              "head_dim = 8",    "ffn_dim = 172",       "vocab_size = 512",   "max_context = 512",
                              "rope_theta = 10000", "norm_eps = 1e-05", "tied_embeddings = true"};
    std::istringstream lines(s);
    std::string line;
    std::size_t i = 0;
    while (std::getline(lines, line)) {
        REQUIRE(i < std::size(expected));
        CHECK(line == expected[i]);
        ++i;
    }
    CHECK(i == std::size(expected));

    std::ostringstream os;
    describe(os, Llama2_70B::cfg, "  ");
    CHECK(os.str().find("  n_kv_heads = 8\n") != std::string::npos);
    CHECK(os.str().find("  tied_embeddings = false\n") != std::string::npos);
}

TEST_CASE("compare reports exactly the fields that differ, by the right name", "[config][describe]") {
    // Each member changed through a member pointer: the reported name must be that member's,
    // which checks the name table against the declaration order independently of PFR.
    struct Case {
        const char* name;
        std::function<void(ModelConfig&)> change;
    };
    const Case cases[] = {
        {"dim", [](ModelConfig& c) { c.dim += 1; }},
        {"n_layers", [](ModelConfig& c) { c.n_layers += 1; }},
        {"n_heads", [](ModelConfig& c) { c.n_heads += 1; }},
        {"n_kv_heads", [](ModelConfig& c) { c.n_kv_heads += 1; }},
        {"head_dim", [](ModelConfig& c) { c.head_dim += 1; }},
        {"ffn_dim", [](ModelConfig& c) { c.ffn_dim += 1; }},
        {"vocab_size", [](ModelConfig& c) { c.vocab_size += 1; }},
        {"max_context", [](ModelConfig& c) { c.max_context += 1; }},
        {"rope_theta", [](ModelConfig& c) { c.rope_theta = 500000.0f; }},
        {"norm_eps", [](ModelConfig& c) { c.norm_eps = 1e-6f; }},
        {"tied_embeddings", [](ModelConfig& c) { c.tied_embeddings = !c.tied_embeddings; }},
    };
    STATIC_CHECK(std::size(cases) == model_config_field_names.size());
    for (const auto& c : cases) {
        ModelConfig changed = Llama2_7B::cfg;
        c.change(changed);
        const auto diffs = compare_with_preset<Llama2_7B>(changed);
        REQUIRE(diffs.size() == 1);
        CHECK(diffs[0].field == c.name);
        CHECK(diffs[0].expected != diffs[0].actual);
    }
    CHECK(compare_configs(Llama2_7B::cfg, Llama2_7B::cfg).empty());
    // 7B vs 70B: everything but vocab, context, theta, eps and tying differs.
    const auto d = compare_configs(Llama2_7B::cfg, Llama2_70B::cfg);
    CHECK(d.size() == 5);
    const std::string report = format_mismatches(d, "preset", "file");
    CHECK(report.find("dim: preset 4096, file 8192") != std::string::npos);
    CHECK(report.find("n_kv_heads: preset 32, file 8") != std::string::npos);
}

TEST_CASE("Stories260K preset vs its GGUF: only the trained context differs", "[config][describe]") {
    GRETA_SHARED_OR_SKIP(path, "models/stories260K-f32.gguf");
    const ModelConfig file_cfg = io::config_from_gguf(*io::GgufFile::open(path));
    const auto diffs = compare_with_preset<Stories260K>(file_cfg);
    REQUIRE(diffs.size() == 1);
    CHECK(diffs[0].field == "max_context");
    CHECK(diffs[0].expected == "512");
    CHECK(diffs[0].actual == "128");
    CHECK(format_mismatches(diffs) == "max_context: expected 512, got 128");
    CHECK(matching_preset(file_cfg) == "stories260k");
    CHECK_FALSE(matching_preset(file_cfg, /*include_context=*/true));
}

TEST_CASE("matching_preset finds each preset and nothing for others", "[config][describe]") {
    CHECK(matching_preset(Llama2_13B::cfg) == "llama2-13b");
    CHECK(matching_preset(TinyLlama_1_1B::cfg, true) == "tinyllama-1.1b");
    ModelConfig odd = Llama2_7B::cfg;
    odd.n_layers = 3;
    CHECK_FALSE(matching_preset(odd));
}
