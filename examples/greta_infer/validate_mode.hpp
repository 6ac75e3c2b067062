#pragma once
// greta_infer --validate: GPU backend against the FP32 CPU reference on the same tokens.

#include <cstdio>
#include <iostream>
#include <string>

#include <greta/greta.hpp>

#include "gpu_entry.hpp"
#include "options.hpp"
#include "synthetic_source.hpp"

namespace greta_infer {

/// Exit status: 0 within bounds, 1 error or bound exceeded, 2 no GPU to validate.
inline int run_validate(const Options& o) {
    if (!gpu_compiled() || !gpu_present()) {
        std::cerr << "greta_infer: --validate compares the GPU backend with the CPU reference and needs a GPU"
                  << (gpu_compiled() ? " (none found)" : " build (-Dgpu=cuda)") << "\n";
        return 2;
    }
    ModelSource src = open_model_source(o);
    greta::model::ModelWeights w = src.weights();
    if (o.validate_layers > 0 && std::uint32_t(o.validate_layers) < w.cfg.n_layers) {
        w.cfg.n_layers = std::uint32_t(o.validate_layers);  // the CPU reference is slow at 7B scale
        w.layers.resize(w.cfg.n_layers);
    }
    std::vector<std::int32_t> prompt;
    if (o.synthetic.empty()) {
        greta::io::ModelFile file = greta::io::open_model_file(o.model);
        greta::tokenizer::Tokenizer tok(greta::runtime::load_model_vocab(file, o.tokenizer));
        prompt = tok.encode(o.prompt, !o.no_bos);
    } else {
        prompt = {1};  // synthetic weights: any ids will do
        for (char c : o.prompt.empty() ? std::string("synthetic") : o.prompt)
            prompt.push_back(std::int32_t(3 + std::uint8_t(c) % (w.cfg.vocab_size - 3)));
    }
    const std::uint32_t ctx = std::uint32_t(prompt.size()) + std::uint32_t(o.validate_steps) + 1;
    auto gpu = make_gpu_backend(w, {.context = ctx, .use_graph = !o.no_graph, .progress = true});
    greta::model::CpuBackend cpu(w, ctx, o.threads);
    greta::validate::ParityBounds bounds{.max_logits_rel = o.max_rel, .min_top1 = o.min_top1, .max_kl = o.max_kl,
                                         .require_same_greedy = true, .greedy_steps = o.validate_steps};
    const auto rep = greta::validate::compare_backends(*gpu, cpu, prompt, bounds);

    std::printf("parity: %s (%s) vs cpu reference | %s | %u layers | prompt %zu tokens | %d greedy steps\n\n",
                std::string(gpu->name()).c_str(), gpu_device_name().c_str(), src.name().c_str(), w.cfg.n_layers,
                prompt.size(), o.validate_steps);
    std::printf("| layer | max abs error | max rel error |\n| ---: | ---: | ---: |\n");
    for (const auto& l : rep.layers)
        std::printf("| %s | %.3e | %.3e |\n",
                    l.layer == w.cfg.n_layers ? "final norm" : std::to_string(l.layer).c_str(), l.max_abs, l.max_rel);
    std::printf("\nlogits (%zu rows): max abs %.3e, max rel %.3e (bound %.1e)\n", rep.rows, rep.logits_max_abs,
                rep.logits_max_rel, bounds.max_logits_rel);
    std::printf("top-1 agreement %.4f (bound %.4f), top-5 agreement %.4f\n", rep.top1, bounds.min_top1, rep.top5);
    std::printf("KL(cpu || gpu): mean %.3e, max %.3e nats (bound on mean %.1e)\n", rep.kl_mean, rep.kl_max, bounds.max_kl);
    std::printf("greedy sequence over %zu steps: %s\n", rep.greedy_ref.size(),
                rep.first_divergence < 0 ? "identical"
                                         : ("diverges at step " + std::to_string(rep.first_divergence)).c_str());
    for (const auto& f : rep.failures) std::printf("FAIL: %s\n", f.c_str());
    std::printf("%s\n", rep.passed() ? "PASS" : "FAIL");
    return rep.passed() ? 0 : 1;
}

}  // namespace greta_infer
