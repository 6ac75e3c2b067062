#include <catch2/catch_test_macros.hpp>

#include <random>

#include <greta/io/open_model_file.hpp>
#include <greta/model/cpu_backend.hpp>
#include <greta/validate/parity.hpp>

#include "shared_files.hpp"

using namespace greta;

namespace {
/// Wraps a backend and perturbs its logits: a stand-in for a broken GPU kernel.
class NoisyBackend final : public model::Backend {
public:
    NoisyBackend(model::Backend& inner, float noise) : inner_(inner), noise_(noise) {}
    std::string_view name() const override { return "noisy"; }
    const ModelConfig& config() const override { return inner_.config(); }
    std::uint32_t context_length() const override { return inner_.context_length(); }
    void forward(std::span<const std::int32_t> t, std::uint32_t pos, float* logits, bool all) override {
        inner_.forward(t, pos, logits, all);
        const std::size_t n = (all ? t.size() : 1) * config().vocab_size;
        std::normal_distribution<float> d(0.0f, noise_);
        for (std::size_t i = 0; i < n; ++i) logits[i] += d(rng_);
    }

private:
    model::Backend& inner_;
    float noise_;
    std::mt19937 rng_{5};
};

model::ModelWeights load(const std::filesystem::path& p, io::ModelFile& keep) {
    keep = io::open_model_file(p);
    return model::bind_weights(keep.config, keep.rope_style, keep.tensors, keep.path);
}
}  // namespace

TEST_CASE("parity of a backend with itself is exact", "[validate]") {
    GRETA_SHARED_OR_SKIP(path, "models/stories260K-f32.gguf");
    io::ModelFile f;
    const auto w = load(path, f);
    model::CpuBackend a(w, 64, 1), b(w, 64, 2);
    const std::vector<std::int32_t> prompt = {1, 403, 407, 261, 378};
    const auto rep = validate::compare_backends(a, b, prompt, {.greedy_steps = 16});
    CHECK(rep.passed());
    CHECK(rep.logits_max_abs == 0.0);
    CHECK(rep.top1 == 1.0);
    CHECK(rep.kl_max < 1e-12);
    REQUIRE(rep.layers.size() == w.cfg.n_layers + 1);
    for (const auto& l : rep.layers) CHECK(l.max_abs == 0.0);
    CHECK(rep.greedy_ref == rep.greedy_test);
    CHECK(rep.greedy_ref.size() == 16);
    CHECK(rep.rows == prompt.size() + 15);
}

TEST_CASE("parity flags a perturbed backend", "[validate]") {
    GRETA_SHARED_OR_SKIP(path, "models/stories260K-f32.gguf");
    io::ModelFile f;
    const auto w = load(path, f);
    model::CpuBackend a(w, 64), b(w, 64);
    NoisyBackend noisy(a, 2.0f);
    const std::vector<std::int32_t> prompt = {1, 403, 407, 261, 378};
    const auto rep = validate::compare_backends(noisy, b, prompt, {.greedy_steps = 16});
    CHECK_FALSE(rep.passed());
    CHECK(rep.logits_max_rel > 1e-2);
    CHECK(rep.kl_mean > 1e-3);
    CHECK(rep.top1 < 1.0);
    CHECK(rep.first_divergence >= 0);
    CHECK(rep.layers.empty());  // the wrapper cannot capture hidden states
}
