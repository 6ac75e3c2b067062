// The GPU backend end to end against the CPU reference (greta::model::CpuBackend). Host code:
// it reaches the GPU through greta_infer's gpu_entry (the one GpuBackend instantiation).
// Without a device every case SKIPs, saying so.
//
// Tolerance: logits max |gpu - cpu| <= 1e-2 * max |cpu| on every step (the GPU rounds the
// GEMV input to fp16 for the tensor cores and keeps the KV cache in fp16; the CPU is FP32
// throughout), and the same greedy token on every step.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <greta/io/open_model_file.hpp>
#include <greta/model/cpu_backend.hpp>
#include <greta/model/synthetic.hpp>
#include <greta/model/weights.hpp>
#include <greta/runtime/engine.hpp>
#include <greta/validate/parity.hpp>

#include "../../examples/greta_infer/gpu_entry.hpp"
#include "../model/fixture_compare.hpp"
#include "shared_files.hpp"

using namespace greta;

#define GRETA_GPU_OR_SKIP() \
    if (!greta_infer::gpu_present()) SKIP("no GPU device: GPU backend tests run on a machine with one")

namespace {

/// Every model in ../shared/models (llama2.c checkpoints and GGUF, F32 to Q4_K_M).
const std::vector<std::string> kSharedModels = {"stories260K-f32.gguf",        "stories260K.bin",
                                                "llama2-tiny-random-f16.gguf", "synthetic-tiny-f16.gguf",
                                                "synthetic-tiny-q8_0.gguf",    "synthetic-tiny-q6_k.gguf",
                                                "synthetic-tiny-q4_k_m.gguf"};

std::unique_ptr<model::Backend> gpu_backend(const model::ModelWeights& w, std::uint32_t ctx, bool graph = true) {
    return greta_infer::make_gpu_backend(w, {.context = ctx, .use_graph = graph, .progress = false});
}

struct StepReport {
    double worst_error = 0;
    int first_divergence = -1;  ///< step whose greedy ids differ, or -1
};

/// Feeds `prompt` to both backends, then runs `steps` greedy steps on each (each backend
/// follows the CPU's token so one near-tie cannot derail the rest); compares every step.
StepReport compare_backends(model::Backend& cpu, model::Backend& gpu, const std::vector<std::int32_t>& prompt,
                            int steps) {
    const std::size_t V = cpu.config().vocab_size;
    std::vector<float> lc(V), lg(V);
    cpu.forward(prompt, 0, lc.data(), false);
    gpu.forward(prompt, 0, lg.data(), false);
    StepReport rep;
    std::uint32_t pos = std::uint32_t(prompt.size());
    for (int s = 0;; ++s) {
        rep.worst_error = std::max(rep.worst_error, test::row_relative_error(lg, lc));
        const auto tc = std::int32_t(test::argmax(lc)), tg = std::int32_t(test::argmax(lg));
        if (tc != tg && rep.first_divergence < 0) rep.first_divergence = s;
        if (s == steps) break;
        cpu.forward(std::span<const std::int32_t>(&tc, 1), pos, lc.data(), false);
        gpu.forward(std::span<const std::int32_t>(&tc, 1), pos, lg.data(), false);
        ++pos;
    }
    return rep;
}

std::vector<std::int32_t> prompt_for(const std::string& name, std::int32_t bos) {
    const auto path = test::shared_file("fixtures/ref/" + name + ".tokens");
    if (!path.empty()) return test::read_fixture_tokens(path).prompt;
    return {bos, 100, 200, 300};
}

}  // namespace

TEST_CASE("GPU logits and greedy ids match the CPU reference on every shared model", "[gpu][backend]") {
    GRETA_GPU_OR_SKIP();
    const std::string name = GENERATE(from_range(kSharedModels));
    GRETA_SHARED_OR_SKIP(path, "models/" + name);
    const auto file = io::open_model_file(path);
    const auto w = model::bind_weights(file.config, file.rope_style, file.tensors, file.path);
    constexpr std::uint32_t ctx = 128;
    model::CpuBackend cpu(w, ctx, 2);
    auto gpu = gpu_backend(w, ctx);
    const std::string stem = name.substr(0, name.rfind('.'));
    const auto rep = compare_backends(cpu, *gpu, prompt_for(stem, 1), 32);
    INFO(name << ": worst logits error " << rep.worst_error << ", first greedy divergence at step " << rep.first_divergence);
    CHECK(rep.worst_error <= 1e-2);
    CHECK(rep.first_divergence == -1);
}

namespace {

/// Logits of every position of `prompt`, fed in two calls (the second at position `split`, so
/// the prefill path also runs after cached positions).
std::vector<float> all_logits(model::Backend& b, const std::vector<std::int32_t>& prompt, std::size_t split) {
    const std::size_t V = b.config().vocab_size;
    std::vector<float> out(prompt.size() * V);
    b.forward(std::span<const std::int32_t>(prompt.data(), split), 0, out.data(), true);
    b.forward(std::span<const std::int32_t>(prompt.data() + split, prompt.size() - split), std::uint32_t(split),
              out.data() + split * V, true);
    return out;
}

struct PrefillReport {
    double worst_error = 0;
    int flips = 0;      ///< positions whose argmax differs
    int near_ties = 0;  ///< positions whose top two logits are closer than twice the error
};

/// Gap between the largest and second-largest logit, relative to the largest magnitude.
double top2_gap(const std::vector<float>& v) {
    float a = -INFINITY, b = -INFINITY, mx = 0;
    for (float x : v) {
        mx = std::max(mx, std::abs(x));
        if (x > a) b = a, a = x;
        else if (x > b) b = x;
    }
    return double(a - b) / std::max(mx, 1e-30f);
}

PrefillReport compare_prefill_with_decode(const model::ModelWeights& w, std::uint32_t ctx,
                                          const std::vector<std::int32_t>& prompt, std::size_t split) {
    auto prefill = greta_infer::make_gpu_backend(w, {.context = ctx, .progress = false, .prefill_min_tokens = 1});
    auto decode = greta_infer::make_gpu_backend(w, {.context = ctx, .progress = false, .prefill_min_tokens = 0});
    const auto a = all_logits(*prefill, prompt, split), b = all_logits(*decode, prompt, split);
    const std::size_t V = w.cfg.vocab_size;
    PrefillReport rep;
    for (std::size_t i = 0; i < prompt.size(); ++i) {
        const std::vector<float> pa(a.begin() + std::ptrdiff_t(i * V), a.begin() + std::ptrdiff_t((i + 1) * V));
        const std::vector<float> pb(b.begin() + std::ptrdiff_t(i * V), b.begin() + std::ptrdiff_t((i + 1) * V));
        const double err = test::row_relative_error(pa, pb);
        rep.worst_error = std::max(rep.worst_error, err);
        // Two paths that each round differently may order two logits closer than their error
        // either way (random-weight models have many such near-ties).
        rep.near_ties += top2_gap(pb) <= 2 * err;
        rep.flips += test::argmax(pa) != test::argmax(pb);
    }
    return rep;
}

/// The fixture prompt, extended with ids spread over the vocabulary to `n` tokens.
std::vector<std::int32_t> long_prompt(const std::string& stem, std::uint32_t vocab, std::size_t n) {
    auto p = prompt_for(stem, 1);
    for (std::uint32_t i = 0; p.size() < n; ++i) p.push_back(std::int32_t(3 + (i * 7919u) % (vocab - 3)));
    p.resize(n);
    return p;
}

}  // namespace

// Prefill (GEMM + flash attention) against the same model evaluated token by token through the
// decode path: both keep an fp16 KV cache; the GEMM also rounds weights to fp16, so 1e-2.
TEST_CASE("prefill logits match token-by-token decode at every position on every shared model",
          "[gpu][backend][prefill]") {
    GRETA_GPU_OR_SKIP();
    const std::string name = GENERATE(from_range(kSharedModels));
    GRETA_SHARED_OR_SKIP(path, "models/" + name);
    const auto file = io::open_model_file(path);
    const auto w = model::bind_weights(file.config, file.rope_style, file.tensors, file.path);
    const std::uint32_t ctx = std::min<std::uint32_t>(128, w.cfg.max_context);
    const std::string stem = name.substr(0, name.rfind('.'));
    // The trained model on the fixture's text has clear winners: the same argmax everywhere.
    // Random-weight models tie often (../shared/README.md): their flips, all at near-ties (two
    // logits closer than twice the measured error), are bounded over the long prompt only.
    const bool trained = stem.starts_with("stories260K");
    {
        const auto prompt = prompt_for(stem, 1);
        const auto rep = compare_prefill_with_decode(w, ctx, prompt, prompt.size() / 2);
        INFO(name << " text prompt: worst logits error " << rep.worst_error << ", flips " << rep.flips << ", near ties "
                  << rep.near_ties);
        CHECK(rep.worst_error <= 1e-2);
        if (trained) CHECK(rep.flips == 0);
    }
    {  // Extended with scattered ids to ~120 positions, split after 37 (past the first tiles).
        const auto prompt = long_prompt(stem, w.cfg.vocab_size, ctx - 8);
        const auto rep = compare_prefill_with_decode(w, ctx, prompt, 37);
        INFO(name << ": " << prompt.size() << " positions, worst logits error " << rep.worst_error << ", flips "
                  << rep.flips << ", near ties " << rep.near_ties);
        CHECK(rep.worst_error <= 1e-2);
        CHECK(rep.flips * 20 <= int(prompt.size()));
    }
}

TEST_CASE("a prompt longer than one prefill chunk, and rotate-half RoPE, match token-by-token decode",
          "[gpu][backend][prefill]") {
    GRETA_GPU_OR_SKIP();
    SECTION("600 tokens: two chunks of the prefill workspace") {
        const auto m = model::make_synthetic("tiny", "q4_k_m", 21);
        const auto prompt = long_prompt("none", m.weights.cfg.vocab_size, 600);
        const auto rep = compare_prefill_with_decode(m.weights, 640, prompt, 5);
        INFO("worst logits error " << rep.worst_error << ", flips " << rep.flips);
        CHECK(rep.worst_error <= 1e-2);
        CHECK(rep.flips * 50 <= int(prompt.size()));
    }
    SECTION("rotate-half (SafeTensors) q/k row order") {
        auto m = model::make_synthetic("tiny", "q6_k", 22);
        m.weights.rope_style = RopeStyle::RotateHalf;
        const auto prompt = long_prompt("none", m.weights.cfg.vocab_size, 90);
        const auto rep = compare_prefill_with_decode(m.weights, 96, prompt, 40);
        INFO("worst logits error " << rep.worst_error << ", flips " << rep.flips);
        CHECK(rep.worst_error <= 1e-2);
        CHECK(rep.flips * 50 <= int(prompt.size()));
    }
}

TEST_CASE("decode_greedy returns the argmax of forward's logits, with and without the graph", "[gpu][backend]") {
    GRETA_GPU_OR_SKIP();
    const auto m = model::make_synthetic("tiny", "q4_k_m", 5);
    auto with_graph = gpu_backend(m.weights, 64, true), without = gpu_backend(m.weights, 64, false);
    std::vector<float> a(m.weights.cfg.vocab_size), b(a.size());
    std::int32_t tok = 1;
    for (std::uint32_t p = 0; p < 24; ++p) {
        with_graph->forward(std::span<const std::int32_t>(&tok, 1), p, a.data(), false);
        without->forward(std::span<const std::int32_t>(&tok, 1), p, b.data(), false);
        REQUIRE(a == b);  // same kernels, same order: bitwise equal
        const auto expect = std::int32_t(test::argmax(a));
        // Re-running position p rewrites the same KV entries, so the result must repeat.
        CHECK(with_graph->decode_greedy(tok, p) == expect);
        CHECK(without->decode_greedy(tok, p) == expect);
        tok = expect;
    }
}

TEST_CASE("chained greedy steps give the stepwise tokens and stop where the caller says", "[gpu][backend]") {
    GRETA_GPU_OR_SKIP();
    const auto m = model::make_synthetic("tiny", "q4_k_m", 6);
    constexpr std::uint32_t ctx = 160, steps = 150;  // past the 64-entry token ring twice
    for (bool graph : {true, false}) {
        INFO("graph " << graph);
        auto stepwise = gpu_backend(m.weights, ctx, graph), chained = gpu_backend(m.weights, ctx, graph);
        std::vector<std::int32_t> expect;
        std::int32_t tok = 3;
        for (std::uint32_t p = 0; p < steps; ++p) expect.push_back(tok = stepwise->decode_greedy(tok, p));

        std::vector<std::int32_t> got;
        CHECK(chained->decode_greedy_run(3, 0, steps, [&](std::int32_t id) {
            got.push_back(id);
            return true;
        }) == steps);
        CHECK(got == expect);

        // Stopped after 10 tokens (a step past the stop is already queued), then resumed.
        got.clear();
        auto until_ten = [&](std::int32_t id) {
            got.push_back(id);
            return got.size() != 10;
        };
        CHECK(chained->decode_greedy_run(3, 0, steps, until_ten) == 10);
        REQUIRE(got.size() == 10);
        CHECK(chained->decode_greedy_run(got.back(), 10, steps - 10, until_ten) == steps - 10);
        CHECK(got == expect);

        // Stepwise and chained calls mix: the chained steps leave the position where they end.
        got.clear();
        CHECK(chained->decode_greedy_run(3, 0, 5, until_ten) == 5);
        CHECK(chained->decode_greedy(got.back(), 5) == expect[5]);

        CHECK_THROWS_AS(chained->decode_greedy_run(1, ctx - 4, 5, until_ten), Error);
        CHECK_THROWS_AS(chained->decode_greedy_run(-1, 0, 5, until_ten), Error);
    }
}

TEST_CASE("synthetic models (every quantization) agree with the CPU reference", "[gpu][backend][synthetic]") {
    GRETA_GPU_OR_SKIP();
    const std::string quant = GENERATE(std::string("q4_k_m"), std::string("q6_k"), std::string("q8_0"), std::string("f16"));
    const auto m = model::make_synthetic("tiny", quant, 11);
    model::CpuBackend cpu(m.weights, 96, 2);
    auto gpu = gpu_backend(m.weights, 96);
    const auto rep = compare_backends(cpu, *gpu, {1, 17, 42, 99, 250}, 32);
    INFO(quant << ": worst logits error " << rep.worst_error << ", divergence at " << rep.first_divergence);
    CHECK(rep.worst_error <= 1e-2);
    CHECK(rep.first_divergence == -1);
}

TEST_CASE("rotate-half RoPE (SafeTensors order) gives the CPU's results", "[gpu][backend][rope]") {
    GRETA_GPU_OR_SKIP();
    auto m = model::make_synthetic("tiny", "q8_0", 3);
    m.weights.rope_style = RopeStyle::RotateHalf;
    model::CpuBackend cpu(m.weights, 64, 2);
    auto gpu = gpu_backend(m.weights, 64);
    const auto rep = compare_backends(cpu, *gpu, {1, 5, 9}, 20);
    CHECK(rep.worst_error <= 1e-2);
    CHECK(rep.first_divergence == -1);
}

TEST_CASE("a decode step allocates no device memory", "[gpu][backend][alloc]") {
    GRETA_GPU_OR_SKIP();
    const auto m = model::make_synthetic("tiny", "q4_k_m", 8);
    for (bool graph : {true, false}) {
        auto gpu = gpu_backend(m.weights, 128, graph);
        std::int32_t tok = gpu->decode_greedy(1, 0);  // first step captures the graph
        std::vector<float> logits(m.weights.cfg.vocab_size);
        const auto before = greta_infer::gpu_allocation_count();
        for (std::uint32_t p = 1; p < 64; ++p) tok = gpu->decode_greedy(tok, p);
        gpu->forward(std::span<const std::int32_t>(&tok, 1), 64, logits.data(), false);
        INFO("graph " << graph);
        CHECK(greta_infer::gpu_allocation_count() == before);
    }
}

TEST_CASE("positions past the context and bad token ids are errors", "[gpu][backend][errors]") {
    GRETA_GPU_OR_SKIP();
    const auto m = model::make_synthetic("tiny", "f16", 2);
    auto gpu = gpu_backend(m.weights, 16);
    CHECK_THROWS_AS(gpu->decode_greedy(1, 16), Error);
    CHECK_THROWS_AS(gpu->decode_greedy(-1, 0), Error);
    CHECK_THROWS_AS(gpu->decode_greedy(std::int32_t(m.weights.cfg.vocab_size), 0), Error);
}

TEST_CASE("stories260K on the GPU: greedy 200 tokens from BOS equal llama2.c's text", "[gpu][backend][greedy]") {
    GRETA_GPU_OR_SKIP();
    GRETA_SHARED_OR_SKIP(model_path, "models/stories260K-f32.gguf");
    GRETA_SHARED_OR_SKIP(expected_path, "models/stories260K.greedy200.txt");
    const auto bytes = test::read_bytes(expected_path);
    const std::string expected(bytes.begin(), bytes.end());
    runtime::EngineOptions eo;
    eo.model = model_path;
    eo.backend_factory = [](const model::ModelWeights& w, std::uint32_t ctx) { return gpu_backend(w, ctx); };
    auto engine = runtime::Engine::open(eo);
    runtime::GenerateOptions o;
    o.n_predict = 200;
    o.sampling.temperature = 0.0f;
    std::string text;
    engine.generate("", o, [&](std::string_view s) {
        text += s;
        return true;
    });
    CHECK(text == expected);
}

TEST_CASE("the GPU captures per-layer hidden states for the parity validator", "[gpu][backend][validate]") {
    GRETA_GPU_OR_SKIP();
    GRETA_SHARED_OR_SKIP(path, "models/synthetic-tiny-q4_k_m.gguf");
    const auto file = io::open_model_file(path);
    const auto w = model::bind_weights(file.config, file.rope_style, file.tensors, file.path);
    const bool graph = GENERATE(true, false);
    CAPTURE(graph);
    auto gpu = gpu_backend(w, 64, graph);
    model::CpuBackend cpu(w, 64);
    const std::vector<std::int32_t> prompt = {1, 403, 407, 261, 378};
    const auto rep = validate::compare_backends(*gpu, cpu, prompt, {.greedy_steps = 8});
    REQUIRE(rep.layers.size() == w.cfg.n_layers);  // the final norm is fused into lm_head
    for (const auto& l : rep.layers) {
        CAPTURE(l.layer, l.max_abs);
        CHECK(l.max_abs > 0.0);    // really the GPU's numbers, not a copy of the CPU's
        CHECK(l.max_rel < 1e-2);   // FP16 KV cache and FP32 accumulation in another order
    }
    CHECK(rep.passed());
    // Capturing off again restores the plain step: greedy decoding still matches forward().
    std::vector<float> logits(w.cfg.vocab_size);
    gpu->forward(std::span<const std::int32_t>(prompt.data(), 1), 0, logits.data(), false);
    CHECK(gpu->decode_greedy(prompt[1], 1) >= 0);
}

TEST_CASE("a model or context larger than free device memory fails before any upload", "[gpu][backend][errors]") {
    GRETA_GPU_OR_SKIP();
    GRETA_SHARED_OR_SKIP(path, "models/synthetic-tiny-q4_k_m.gguf");
    const auto file = io::open_model_file(path);
    const auto w = model::bind_weights(file.config, file.rope_style, file.tensors, file.path);
    const std::uint64_t free_before = greta_infer::gpu_free_bytes();
    const std::uint64_t allocs_before = greta_infer::gpu_allocation_count();

    // 2^31 positions of this model's KV cache: 2 layers x 128 x 2 (K, V) x 2 bytes x 2^31 = 2 TiB.
    try {
        greta_infer::make_gpu_backend(w, {.context = 1u << 31, .use_graph = true, .progress = false});
        FAIL("a 2 TiB KV cache was accepted");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("lower the context") != std::string::npos);
    }

    // Llama-2-70B shapes claimed in F32 (~276 GB); every view points at one small buffer, which the
    // backend must never read: the size check comes before any allocation or copy.
    std::vector<std::byte> small(4096);
    model::ModelWeights huge;
    huge.cfg = Llama2_70B::cfg;
    auto view = [&](std::uint64_t cols, std::uint64_t rows) {
        TensorView t;
        t.type = DType::F32;
        t.n_dims = rows > 1 ? 2 : 1;
        t.ne = {cols, rows, 1, 1};
        t.data = small.data();
        t.n_bytes = cols * rows * 4;
        return t;
    };
    const auto& c = huge.cfg;
    huge.tok_embd = view(c.dim, c.vocab_size);
    huge.output = view(c.dim, c.vocab_size);
    huge.output_norm = view(c.dim, 1);
    for (std::uint32_t l = 0; l < c.n_layers; ++l)
        huge.layers.push_back({view(c.dim, 1), view(c.dim, c.q_dim()), view(c.dim, c.kv_dim()), view(c.dim, c.kv_dim()),
                               view(c.q_dim(), c.dim), view(c.dim, 1), view(c.dim, c.ffn_dim), view(c.dim, c.ffn_dim),
                               view(c.ffn_dim, c.dim)});
    try {
        greta_infer::make_gpu_backend(huge, {.context = 64, .use_graph = true, .progress = false});
        FAIL("a 276 GB model was accepted");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("weights need") != std::string::npos);
    }
    CHECK(greta_infer::gpu_allocation_count() == allocs_before);  // nothing allocated, nothing uploaded
    const double free_drift = double(greta_infer::gpu_free_bytes()) - double(free_before);
    CHECK(std::abs(free_drift) < 64.0 * 1024 * 1024);
}
