#pragma once
// What a program does with a model file that parsed: bind the weights by role, then run one
// CPU forward step. Fuzzed files are small (libFuzzer's -max_len), so the step is cheap.

#include <algorithm>
#include <cstdint>
#include <vector>

#include <greta/core/error.hpp>
#include <greta/io/model_file.hpp>
#include <greta/model/cpu_backend.hpp>
#include <greta/model/weights.hpp>

#include "fuzz_common.hpp"

namespace greta::fuzz {

/// Binds and runs a model file; greta::Error from either step is an accepted outcome.
inline void bind_and_step(const io::ModelFile& mf) {
    touch_tensors(mf.tensors);
    try {
        const model::ModelWeights w = model::bind_weights(mf.config, mf.rope_style, mf.tensors, mf.path);
        // A small fixed context: the KV cache size follows the file's trained context, which
        // the file may claim freely (see docs on the automatic context, a runtime policy).
        model::CpuBackend backend(w, std::min<std::uint32_t>(w.cfg.max_context, 4), 1);
        std::vector<float> logits(w.cfg.vocab_size);
        const std::int32_t tokens[2] = {0, std::int32_t(w.cfg.vocab_size - 1)};
        backend.forward(tokens, 0, logits.data(), false);
        if (w.cfg.max_context >= 3) backend.forward(std::span(tokens, 1), 2, logits.data(), false);
    } catch (const greta::Error&) {
    }
}

}  // namespace greta::fuzz
