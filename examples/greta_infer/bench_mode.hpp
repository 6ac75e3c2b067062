#pragma once
// greta_infer --bench: llama-bench style prompt-processing (ppN) and generation (tgN) rates.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <greta/greta.hpp>

#include "gpu_entry.hpp"
#include "options.hpp"
#include "synthetic_source.hpp"

namespace greta_infer {

struct BenchResult {
    std::string test;
    int n_tokens = 0;
    double mean_tps = 0, sd_tps = 0;
    double mean_ms = 0;  ///< wall time of one run (ppN: the prompt's time to first token)
};

/// Bytes of weights one decode step reads: every matrix once, the embedding only one row.
inline std::uint64_t weight_bytes_per_token(const greta::model::ModelWeights& w) {
    std::uint64_t b = w.output.n_bytes + w.output_norm.n_bytes + w.tok_embd.row_stride_bytes();
    for (const auto& l : w.layers)
        for (const auto* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down})
            b += t->n_bytes;
    return b;
}

inline std::uint64_t total_weight_bytes(const greta::model::ModelWeights& w) {
    std::uint64_t b = w.output_norm.n_bytes + w.tok_embd.n_bytes + (w.cfg.tied_embeddings ? 0 : w.output.n_bytes);
    for (const auto& l : w.layers)
        for (const auto* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down})
            b += t->n_bytes;
    return b;
}

inline std::string fixed(double v, const char* unit) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f %s", v, unit);
    return buf;
}

inline BenchResult summarize(std::string test, int n, const std::vector<double>& seconds) {
    BenchResult r{std::move(test), n, 0, 0};
    std::vector<double> tps;
    for (double s : seconds) tps.push_back(n / s);
    for (double s : seconds) r.mean_ms += 1e3 * s / double(seconds.size());
    for (double v : tps) r.mean_tps += v;
    r.mean_tps /= double(tps.size());
    for (double v : tps) r.sd_tps += (v - r.mean_tps) * (v - r.mean_tps);
    r.sd_tps = tps.size() > 1 ? std::sqrt(r.sd_tps / double(tps.size() - 1)) : 0.0;
    return r;
}

inline int run_bench(const Options& o, const greta::runtime::BackendFactory& factory) {
    using clock = std::chrono::steady_clock;
    ModelSource src = open_model_source(o);
    const auto& w = src.weights();
    int max_p = 0, max_n = 0;
    for (int p : o.bench_prompt) max_p = std::max(max_p, p);
    for (int n : o.bench_gen) max_n = std::max(max_n, n);
    if (max_p < 0 || max_n < 0) throw greta::Error("benchmark lengths must be non-negative");
    const std::uint32_t ctx = std::uint32_t(std::max(max_p, max_n) + 1);
    auto backend = factory(w, ctx);

    std::mt19937 rng(1234);
    std::uniform_int_distribution<std::int32_t> any_token(3, std::int32_t(w.cfg.vocab_size) - 1);
    std::vector<float> logits(w.cfg.vocab_size);
    std::vector<BenchResult> results;

    for (int p : o.bench_prompt) {
        if (p <= 0) continue;
        std::vector<std::int32_t> tokens(static_cast<std::size_t>(p));
        for (auto& t : tokens) t = any_token(rng);
        backend->forward(tokens, 0, logits.data(), false);  // warm-up
        std::vector<double> secs;
        for (int r = 0; r < o.repetitions; ++r) {
            const auto t0 = clock::now();
            backend->forward(tokens, 0, logits.data(), false);
            secs.push_back(std::chrono::duration<double>(clock::now() - t0).count());
        }
        results.push_back(summarize("pp" + std::to_string(p), p, secs));
    }
    for (int n : o.bench_gen) {
        if (n <= 0) continue;
        // Warm-up, and the capture of both step graphs on the GPU.
        backend->decode_greedy(any_token(rng), 0);
        backend->decode_greedy_run(any_token(rng), 0, 2, [](std::int32_t) { return true; });
        std::vector<double> secs;
        for (int r = 0; r < o.repetitions; ++r) {
            std::int32_t tok = any_token(rng);
            const auto t0 = clock::now();
            // As the generator decodes greedily: steps chained on the device.
            backend->decode_greedy_run(tok, 0, std::size_t(n), [&](std::int32_t id) {
                tok = id;
                return true;
            });
            secs.push_back(std::chrono::duration<double>(clock::now() - t0).count());
        }
        results.push_back(summarize("tg" + std::to_string(n), n, secs));
    }

    const double bytes_per_token = double(weight_bytes_per_token(w));
    const bool on_gpu = backend->name() != "cpu";
    const double hbm_gbs = on_gpu ? measure_hbm_bandwidth_gbs() : 0.0;
    const double size_gib = double(total_weight_bytes(w)) / (1024.0 * 1024.0 * 1024.0);
    const double params_b = double(w.cfg.n_params()) / 1e9;
    const std::string backend_name = on_gpu ? std::string(backend->name()) + " (" + gpu_device_name() + ")"
                                            : std::string("cpu, ") + std::to_string(src.threads(o)) + " threads";
    if (o.json) {
        std::printf("[\n");
        for (std::size_t i = 0; i < results.size(); ++i) {
            const auto& r = results[i];
            const bool tg = r.test.rfind("tg", 0) == 0;
            std::printf("  {\"model\": \"%s\", \"size_gib\": %.3f, \"params_b\": %.3f, \"backend\": \"%s\", "
                        "\"test\": \"%s\", \"tokens_per_s\": %.2f, \"sd\": %.2f",
                        src.name().c_str(), size_gib, params_b, backend_name.c_str(), r.test.c_str(), r.mean_tps,
                        r.sd_tps);
            if (!tg) std::printf(", \"ttft_ms\": %.2f", r.mean_ms);
            if (tg && hbm_gbs > 0)
                std::printf(", \"weight_gb_per_s\": %.1f, \"hbm_gb_per_s\": %.1f, \"bandwidth_fraction\": %.3f",
                            r.mean_tps * bytes_per_token / 1e9, hbm_gbs, r.mean_tps * bytes_per_token / 1e9 / hbm_gbs);
            std::printf("}%s\n", i + 1 < results.size() ? "," : "");
        }
        std::printf("]\n");
        return 0;
    }
    const std::string size_text = size_gib >= 1.0 ? fixed(size_gib, "GiB") : fixed(size_gib * 1024.0, "MiB");
    const std::string params_text = params_b >= 1.0 ? fixed(params_b, "B") : fixed(params_b * 1e3, "M");
    std::printf("| model | size | params | backend | test | t/s |\n");
    std::printf("| --- | ---: | ---: | --- | ---: | ---: |\n");
    for (const auto& r : results)
        std::printf("| %s | %s | %s | %s | %s | %.2f ± %.2f |\n", src.name().c_str(), size_text.c_str(),
                    params_text.c_str(), backend_name.c_str(), r.test.c_str(), r.mean_tps, r.sd_tps);
    for (const auto& r : results)
        if (r.test.rfind("pp", 0) == 0)
            std::printf("\n%s: time to first token %.2f ms (the prompt's forward pass and its last logits)\n",
                        r.test.c_str(), r.mean_ms);
    if (hbm_gbs > 0) {
        for (const auto& r : results) {
            if (r.test.rfind("tg", 0) != 0) continue;
            const double achieved = r.mean_tps * bytes_per_token / 1e9;
            std::printf("\n%s: weights %.2f GB/token -> %.0f GB/s of %.0f GB/s measured HBM read bandwidth "
                        "(%.1f%%); limit %.0f tok/s\n",
                        r.test.c_str(), bytes_per_token / 1e9, achieved, hbm_gbs, 100.0 * achieved / hbm_gbs,
                        hbm_gbs * 1e9 / bytes_per_token);
        }
    }
    return 0;
}

}  // namespace greta_infer
