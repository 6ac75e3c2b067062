#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>

#include <cmath>
#include <complex>
#include <string>
#include <vector>

#include <greta/io/open_model_file.hpp>
#include <greta/model/cpu_backend.hpp>
#include <greta/quant/row.hpp>

#include "fixture_compare.hpp"
#include "shared_files.hpp"

using namespace greta;

namespace {

struct Case {
    std::string model;
    double max_rel;        // bound on every row's relative error vs llama.cpp
    double min_top1;       // fraction of rows whose argmax matches llama.cpp's
};

// Margins from shared/README.md: F32/F16 agree with llama.cpp to ~1e-3; llama.cpp quantizes
// activations to 8 bits inside Q8_0/Q6_K/Q4_K dot products, so those differ by up to ~2.5e-2.
const Case kCases[] = {
    {"stories260K-f32", 1e-2, 1.0},
    {"synthetic-tiny-f16", 1e-2, 1.0},
    {"synthetic-tiny-q8_0", 5e-2, 0.9},
    {"synthetic-tiny-q6_k", 5e-2, 0.9},
    {"synthetic-tiny-q4_k_m", 5e-2, 0.9},
};

}  // namespace

TEST_CASE("CPU reference matches llama.cpp logits on the shared models", "[model][cpu][fixtures]") {
    const Case c = GENERATE(from_range(std::begin(kCases), std::end(kCases)));
    CAPTURE(c.model);
    GRETA_SHARED_OR_SKIP(model_path, "models/" + c.model + ".gguf");
    GRETA_SHARED_OR_SKIP(tokens_path, "fixtures/ref/" + c.model + ".tokens");
    GRETA_SHARED_OR_SKIP(prefill_path, "fixtures/ref/" + c.model + ".prefill.f32");
    GRETA_SHARED_OR_SKIP(decode_path, "fixtures/ref/" + c.model + ".decode.f32");

    const auto file = io::open_model_file(model_path);
    const auto w = model::bind_weights(file.config, file.rope_style, file.tensors, file.path);
    const auto toks = test::read_fixture_tokens(tokens_path);
    const auto ref_prefill = test::read_array<float>(prefill_path);
    const auto ref_decode = test::read_array<float>(decode_path);
    const std::size_t V = w.cfg.vocab_size, P = toks.prompt.size(), G = ref_decode.size() / V;
    REQUIRE(ref_prefill.size() == P * V);
    REQUIRE(G >= 1);
    REQUIRE(toks.generated.size() >= G);

    model::CpuBackend cpu(w, 512);
    std::vector<float> logits(P * V);
    cpu.forward(toks.prompt, 0, logits.data(), true);

    std::size_t rows = 0, top1 = 0;
    double worst = 0;
    auto compare = [&](std::span<const float> got, std::span<const float> ref) {
        const double rel = test::row_relative_error(got, ref);
        worst = std::max(worst, rel);
        ++rows;
        top1 += test::argmax(got) == test::argmax(ref);
    };
    for (std::size_t r = 0; r < P; ++r)
        compare({&logits[r * V], V}, {&ref_prefill[r * V], V});

    // Decode: row i chose generated token i; feed llama.cpp's tokens so both see the same context.
    std::vector<float> step(V);
    for (std::size_t i = 0; i < G; ++i) {
        std::span<const float> got(&logits[(P - 1) * V], V);
        if (i > 0) {
            cpu.forward(std::span<const std::int32_t>(&toks.generated[i - 1], 1), std::uint32_t(P + i - 1),
                        step.data(), false);
            got = step;
        }
        compare(got, {&ref_decode[i * V], V});
        if (c.min_top1 == 1.0) CHECK(test::argmax(got) == std::size_t(toks.generated[i]));
    }
    INFO("worst row relative error " << worst << ", top-1 agreement " << top1 << "/" << rows);
    CHECK(worst <= c.max_rel);
    CHECK(double(top1) / double(rows) >= c.min_top1);
}

namespace {

// An independent FP64 forward of a one-layer model: RoPE through complex rotation, attention
// and norms written directly from the definitions.
std::vector<double> fp64_one_layer_logits(const model::ModelWeights& w, const std::vector<std::int32_t>& ids) {
    const auto& c = w.cfg;
    auto mat = [](const TensorView& t) {
        std::vector<float> f(t.n_elements());
        for (std::uint64_t r = 0; r < t.rows(); ++r) quant::dequantize_row(t.type, t.row(r), &f[r * t.cols()], t.cols());
        return std::vector<double>(f.begin(), f.end());
    };
    auto matvec = [](const std::vector<double>& W, std::size_t rows, std::size_t cols, const std::vector<double>& x) {
        std::vector<double> y(rows, 0.0);
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t k = 0; k < cols; ++k) y[r] += W[r * cols + k] * x[k];
        return y;
    };
    auto norm = [&](const std::vector<double>& x, const std::vector<double>& g) {
        double ss = 0;
        for (double v : x) ss += v * v;
        const double s = 1.0 / std::sqrt(ss / double(x.size()) + double(c.norm_eps));
        std::vector<double> y(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * g[i];
        return y;
    };
    auto rotate = [&](std::vector<double>& v, std::size_t heads, std::size_t pos) {
        for (std::size_t h = 0; h < heads; ++h)
            for (std::size_t i = 0; i < c.head_dim / 2; ++i) {
                const double angle = double(pos) * std::pow(double(c.rope_theta), -double(2 * i) / double(c.head_dim));
                double& a = v[h * c.head_dim + 2 * i];
                double& b = v[h * c.head_dim + 2 * i + 1];
                const std::complex<double> z = std::complex<double>(a, b) * std::polar(1.0, angle);
                a = z.real();
                b = z.imag();
            }
    };
    const auto& L = w.layers[0];
    const auto emb = mat(w.tok_embd), wq = mat(L.wq), wk = mat(L.wk), wv = mat(L.wv), wo = mat(L.wo);
    const auto wg = mat(L.w_gate), wu = mat(L.w_up), wd = mat(L.w_down), out = mat(w.output);
    const auto g1 = mat(L.attn_norm), g2 = mat(L.ffn_norm), gf = mat(w.output_norm);
    const std::size_t D = c.dim, V = c.vocab_size, hd = c.head_dim;
    std::vector<std::vector<double>> keys, values;
    std::vector<double> logits;
    for (std::size_t t = 0; t < ids.size(); ++t) {
        std::vector<double> x(emb.begin() + std::ptrdiff_t(ids[t] * D), emb.begin() + std::ptrdiff_t((ids[t] + 1) * D));
        auto xn = norm(x, g1);
        auto q = matvec(wq, c.q_dim(), D, xn), k = matvec(wk, c.kv_dim(), D, xn), v = matvec(wv, c.kv_dim(), D, xn);
        rotate(q, c.n_heads, t);
        rotate(k, c.n_kv_heads, t);
        keys.push_back(k);
        values.push_back(v);
        std::vector<double> att(c.q_dim(), 0.0);
        for (std::size_t h = 0; h < c.n_heads; ++h) {
            const std::size_t kvh = h / c.gqa_group();
            std::vector<double> s(t + 1);
            double mx = -1e300, sum = 0;
            for (std::size_t j = 0; j <= t; ++j) {
                double d = 0;
                for (std::size_t i = 0; i < hd; ++i) d += q[h * hd + i] * keys[j][kvh * hd + i];
                s[j] = d / std::sqrt(double(hd));
                mx = std::max(mx, s[j]);
            }
            for (auto& e : s) sum += (e = std::exp(e - mx));
            for (std::size_t j = 0; j <= t; ++j)
                for (std::size_t i = 0; i < hd; ++i) att[h * hd + i] += s[j] / sum * values[j][kvh * hd + i];
        }
        const auto o = matvec(wo, D, c.q_dim(), att);
        for (std::size_t i = 0; i < D; ++i) x[i] += o[i];
        xn = norm(x, g2);
        auto gate = matvec(wg, c.ffn_dim, D, xn), up = matvec(wu, c.ffn_dim, D, xn);
        for (std::size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
        const auto down = matvec(wd, D, c.ffn_dim, gate);
        for (std::size_t i = 0; i < D; ++i) x[i] += down[i];
        const auto lg = matvec(out, V, D, norm(x, gf));
        logits.insert(logits.end(), lg.begin(), lg.end());
    }
    return logits;
}

}  // namespace

TEST_CASE("CPU reference agrees with an FP64 forward of one layer", "[model][cpu][fp64]") {
    const std::string name = GENERATE(std::string("synthetic-tiny-f16"), std::string("synthetic-tiny-q4_k_m"));
    CAPTURE(name);
    GRETA_SHARED_OR_SKIP(model_path, "models/" + name + ".gguf");
    const auto file = io::open_model_file(model_path);
    auto cfg = file.config;
    cfg.n_layers = 1;  // the FP64 forward covers one layer; the file's other layers are unused
    const auto w = model::bind_weights(cfg, file.rope_style, file.tensors, file.path);
    const std::vector<std::int32_t> ids = {1, 403, 407, 261, 378, 17, 300};
    const auto ref = fp64_one_layer_logits(w, ids);
    model::CpuBackend cpu(w, 16);
    std::vector<float> got(ids.size() * cfg.vocab_size);
    cpu.forward(ids, 0, got.data(), true);
    const std::vector<float> reff(ref.begin(), ref.end());
    for (std::size_t t = 0; t < ids.size(); ++t) {
        const std::span<const float> g(&got[t * cfg.vocab_size], cfg.vocab_size), r(&reff[t * cfg.vocab_size], cfg.vocab_size);
        // FP32 vs FP64 on K <= 768 dot products: ~1e-6 relative; 1e-4 leaves room, catches any bug.
        CHECK(test::row_relative_error(g, r) < 1e-4);
    }
}

TEST_CASE("CPU results do not depend on thread count or on batching", "[model][cpu]") {
    GRETA_SHARED_OR_SKIP(model_path, "models/synthetic-tiny-q4_k_m.gguf");
    const auto file = io::open_model_file(model_path);
    const auto w = model::bind_weights(file.config, file.rope_style, file.tensors, file.path);
    const std::vector<std::int32_t> ids = {1, 50, 60, 70, 80, 90};
    const std::size_t V = w.cfg.vocab_size;

    model::CpuBackend one(w, 32, 1), two(w, 32, 2);
    std::vector<float> a(ids.size() * V), b(ids.size() * V);
    one.forward(ids, 0, a.data(), true);
    two.forward(ids, 0, b.data(), true);
    CHECK(a == b);  // each output is computed by one thread in a fixed order

    // Token-by-token evaluation equals the batched prompt up to summation order.
    model::CpuBackend step(w, 32, 2);
    std::vector<float> row(V);
    for (std::size_t t = 0; t < ids.size(); ++t) {
        step.forward(std::span<const std::int32_t>(&ids[t], 1), std::uint32_t(t), row.data(), false);
        CHECK(test::row_relative_error(row, {&a[t * V], V}) < 1e-5);
    }
}

TEST_CASE("CPU backend rejects positions past the context and bad token ids", "[model][cpu]") {
    GRETA_SHARED_OR_SKIP(model_path, "models/stories260K-f32.gguf");
    const auto file = io::open_model_file(model_path);
    const auto w = model::bind_weights(file.config, file.rope_style, file.tensors, file.path);
    model::CpuBackend cpu(w, 4);
    std::vector<float> logits(w.cfg.vocab_size * 8);
    const std::vector<std::int32_t> five = {1, 2, 3, 4, 5};
    CHECK_THROWS_AS(cpu.forward(five, 0, logits.data(), false), Error);
    const std::vector<std::int32_t> bad = {1, 512};
    CHECK_THROWS_AS(cpu.forward(bad, 0, logits.data(), false), Error);
}

TEST_CASE("a greedy run hands over decode_greedy's tokens and stops when the caller says", "[model][cpu]") {
    GRETA_SHARED_OR_SKIP(model_path, "models/stories260K-f32.gguf");
    const auto file = io::open_model_file(model_path);
    const auto w = model::bind_weights(file.config, file.rope_style, file.tensors, file.path);
    model::CpuBackend stepwise(w, 32), chained(w, 32);
    std::vector<std::int32_t> expect;
    std::int32_t tok = 1;
    for (std::uint32_t p = 0; p < 20; ++p) expect.push_back(tok = stepwise.decode_greedy(tok, p));

    std::vector<std::int32_t> got;
    auto keep = [&](std::int32_t id) {
        got.push_back(id);
        return got.size() != 7;  // stop after the seventh token
    };
    CHECK(chained.decode_greedy_run(1, 0, 20, keep) == 7);
    REQUIRE(got.size() == 7);
    CHECK(chained.decode_greedy_run(got.back(), 7, 13, keep) == 13);
    CHECK(got == expect);
    CHECK(chained.decode_greedy_run(1, 0, 0, keep) == 0);
    CHECK(got.size() == 20);
}
