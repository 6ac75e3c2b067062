#pragma once
/// @file ModelWeights: the tensors of a Llama-family model bound by role, shapes validated.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <greta/config/model_config.hpp>
#include <greta/core/error.hpp>
#include <greta/core/tensor_view.hpp>

namespace greta::model {

struct LayerWeights {
    TensorView attn_norm, wq, wk, wv, wo;
    TensorView ffn_norm, w_gate, w_up, w_down;
};

/// Every weight of the model, by role. Matrices are [rows=out x cols=in] (GGUF ne = {in, out}).
struct ModelWeights {
    ModelConfig cfg;
    RopeStyle rope_style = RopeStyle::AdjacentPairs;
    TensorView tok_embd;     ///< [vocab x dim]
    TensorView output_norm;  ///< [dim]
    TensorView output;       ///< [vocab x dim]; the embedding itself when tied
    std::vector<LayerWeights> layers;
};

namespace detail {
inline const TensorView& require_tensor(std::span<const TensorView> tensors, const std::string& name,
                                        std::uint64_t cols, std::uint64_t rows, const std::string& file) {
    for (const auto& t : tensors) {
        if (t.name != name) continue;
        const bool is_vector = rows == 1;
        const bool shape_ok = t.ne[0] == cols && t.rows() == rows && (!is_vector || t.n_dims == 1 || t.ne[1] == 1);
        check(shape_ok, [&] {
            return "tensor has shape [" + std::to_string(t.ne[0]) + ", " + std::to_string(t.rows()) +
                   "], expected [" + std::to_string(cols) + ", " + std::to_string(rows) + "]";
        }, {file, {}, name});
        check(dtype_info(t.type).supported,
              [&] { return "unsupported tensor type " + std::string(dtype_name(t.type)); }, {file, {}, name});
        check(!is_vector || t.type == DType::F32 || t.type == DType::F16 || t.type == DType::BF16,
              [&] { return "norm weights must be F32, F16 or BF16, not " + std::string(dtype_name(t.type)); },
              {file, {}, name});
        return t;
    }
    throw Error("missing required tensor", {file, {}, name});
}
}  // namespace detail

/// Binds GGUF-named tensors to roles, checking every shape against cfg. The output matrix
/// falls back to the embedding when `output.weight` is absent (tied embeddings).
inline ModelWeights bind_weights(const ModelConfig& cfg, RopeStyle rope, std::span<const TensorView> tensors,
                                 const std::string& file = {}) {
    check(cfg.valid(), [] { return std::string("invalid model hyperparameters"); }, {file, {}, {}});
    ModelWeights w;
    w.cfg = cfg;
    w.rope_style = rope;
    const std::uint64_t d = cfg.dim, q = cfg.q_dim(), kv = cfg.kv_dim(), f = cfg.ffn_dim, v = cfg.vocab_size;
    w.tok_embd = detail::require_tensor(tensors, "token_embd.weight", d, v, file);
    w.output_norm = detail::require_tensor(tensors, "output_norm.weight", d, 1, file);
    bool has_output = false;
    for (const auto& t : tensors) has_output |= t.name == "output.weight";
    w.output = has_output ? detail::require_tensor(tensors, "output.weight", d, v, file) : w.tok_embd;
    w.cfg.tied_embeddings = !has_output;
    for (std::uint32_t l = 0; l < cfg.n_layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights lw;
        lw.attn_norm = detail::require_tensor(tensors, p + "attn_norm.weight", d, 1, file);
        lw.wq = detail::require_tensor(tensors, p + "attn_q.weight", d, q, file);
        lw.wk = detail::require_tensor(tensors, p + "attn_k.weight", d, kv, file);
        lw.wv = detail::require_tensor(tensors, p + "attn_v.weight", d, kv, file);
        lw.wo = detail::require_tensor(tensors, p + "attn_output.weight", q, d, file);
        lw.ffn_norm = detail::require_tensor(tensors, p + "ffn_norm.weight", d, 1, file);
        lw.w_gate = detail::require_tensor(tensors, p + "ffn_gate.weight", d, f, file);
        lw.w_up = detail::require_tensor(tensors, p + "ffn_up.weight", d, f, file);
        lw.w_down = detail::require_tensor(tensors, p + "ffn_down.weight", f, d, file);
        w.layers.push_back(std::move(lw));
    }
    return w;
}

}  // namespace greta::model
