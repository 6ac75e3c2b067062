#pragma once
// greta_infer --profile: time each logical block of the GPU decode step.
//
// Kernels stamp the GPU clock when they start, when their inputs are ready and when they end,
// inside the normal graph replay: the profiled run is the production path, not a slowed copy.
// RMSNorm has no row of its own: it is fused into the GEMV that consumes it, as RoPE and the
// KV-cache store are fused into the QKV GEMV's epilogue.

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <greta/greta.hpp>

#include "gpu_entry.hpp"
#include "options.hpp"
#include "synthetic_source.hpp"

namespace greta_infer {

/// The logical block a launch label belongs to.
inline std::string profile_block(const std::string& launch) {
    if (launch == "embed") return "embedding";
    if (launch == "attention") return "attention (FP16 KV, split-K)";
    if (launch == "o") return "O projection + residual";
    if (launch == "gate+up" || launch == "gate" || launch == "up") return "FFN gate/up + SwiGLU (RMSNorm fused)";
    if (launch.rfind("down", 0) == 0) return "FFN down + residual";
    if (launch == "lm_head") return "final RMSNorm + lm_head + argmax";
    return "QKV + RoPE + KV-cache store (RMSNorm fused)";  // qkv, qk, k, v, qkv (v q6_k)
}

inline int run_profile(const Options& o) {
    if (!gpu_compiled() || !gpu_present()) {
        std::cerr << "greta_infer: --profile times GPU kernels and needs a GPU"
                  << (gpu_compiled() ? " (none found)" : " build (-Dgpu=cuda)") << "\n";
        return 2;
    }
    ModelSource src = open_model_source(o);
    const auto& w = src.weights();
    const int steps = o.n_predict > 0 ? o.n_predict : 128;
    auto backend = make_gpu_backend(w, {.context = std::uint32_t(steps) + 1, .use_graph = !o.no_graph,
                                        .progress = true, .overlap_launches = true, .profile = true});
    std::int32_t tok = 1;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) tok = backend->decode_greedy(tok, std::uint32_t(i));
    const double wall_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / steps;

    // Host-side sampling (top-k 40, top-p 0.95, min-p 0.05, temperature 0.8) over one logits row.
    greta::sampling::Sampler sampler(greta::sampling::SamplingParams{}, w.cfg.vocab_size);
    std::vector<float> logits(w.cfg.vocab_size);
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 3.0f);
    for (auto& v : logits) v = nd(rng);
    const auto s0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) sampler.sample(logits);
    const double sample_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - s0).count() / steps;

    struct Block {
        int launches = 0;
        double us = 0, bytes = 0;
    };
    std::map<std::string, Block> blocks;
    std::vector<std::string> order;
    double busy = 0, gaps = 0;
    for (const auto& r : gpu_profile(*backend)) {
        const auto name = profile_block(r.launch);
        if (!blocks.count(name)) order.push_back(name);
        auto& b = blocks[name];
        b.launches += r.per_step;
        b.us += r.busy_us;
        b.bytes += r.bytes;
        busy += r.busy_us;
        gaps += r.gap_us;
    }
    const double hbm = measure_hbm_bandwidth_gbs();
    const double step_us = busy + gaps;
    std::printf("profile: %s | %s | %d decode steps (graph %s) | step %.1f us on the GPU clock, %.1f us wall "
                "(%.1f tok/s) | HBM read bandwidth %.0f GB/s\n\n",
                src.name().c_str(), gpu_device_name().c_str(), steps, o.no_graph ? "off" : "on", step_us, wall_us,
                1e6 / wall_us, hbm);
    std::printf("| block | calls/step | total ms | %% of step | bytes/step | GB/s | %% of HBM |\n");
    std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (const auto& name : order) {
        const auto& b = blocks[name];
        const double gbs = b.us > 0 ? b.bytes / (b.us * 1e3) : 0;
        std::printf("| %s | %d | %.2f | %.1f | %.1f MB | %.0f | %.1f |\n", name.c_str(), b.launches, b.us * steps / 1e3,
                    100.0 * b.us / step_us, b.bytes / 1e6, gbs, hbm > 0 ? 100.0 * gbs / hbm : 0.0);
    }
    std::printf("| gaps between kernels | - | %.2f | %.1f | - | - | - |\n", gaps * steps / 1e3, 100.0 * gaps / step_us);
    std::printf("| sampling (host; greedy runs use the fused argmax) | 1 | %.2f | - | - | - | - |\n",
                sample_us * steps / 1e3);
    return 0;
}

}  // namespace greta_infer
