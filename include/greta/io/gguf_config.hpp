#pragma once
/// @file config_from_gguf: Llama hyperparameters from a GGUF file's `{arch}.*` metadata.

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include <greta/config/model_config.hpp>
#include <greta/core/error.hpp>
#include <greta/io/gguf.hpp>

namespace greta::io {

/// Why a config read from a file is unusable, or empty if cfg.valid(). Names the field so the
/// error message says what to look at.
inline std::string config_problem(const ModelConfig& c) {
    auto s = [](auto v) { return std::to_string(v); };
    if (c.dim == 0) return "embedding width (dim) is 0";
    if (c.n_layers == 0) return "layer count is 0";
    if (c.n_heads == 0) return "attention head count is 0";
    if (c.n_kv_heads == 0) return "KV head count is 0";
    if (c.n_heads % c.n_kv_heads != 0)
        return "n_heads (" + s(c.n_heads) + ") is not a multiple of n_kv_heads (" + s(c.n_kv_heads) + ")";
    if (c.head_dim == 0 || c.head_dim % 2 != 0) return "head_dim (" + s(c.head_dim) + ") must be even and nonzero";
    // q_dim() and kv_dim() are 32-bit products: a file claiming e.g. 2^29 + 8 heads of 8 wraps
    // q_dim to 64, which then passes the weight-shape checks while the forward pass walks
    // n_heads heads far outside its buffers (regression test: tests/reliability).
    if (std::uint64_t(c.n_heads) * c.head_dim > std::numeric_limits<std::uint32_t>::max())
        return "n_heads (" + s(c.n_heads) + ") x head_dim (" + s(c.head_dim) + ") overflows 32 bits";
    if (c.ffn_dim == 0) return "feed-forward width is 0";
    if (c.vocab_size == 0) return "vocabulary size is 0";
    if (c.max_context == 0) return "context length is 0";
    if (!(c.rope_theta > 0.0f)) return "rope theta (" + s(c.rope_theta) + ") must be positive";
    if (!(c.norm_eps > 0.0f)) return "norm epsilon (" + s(c.norm_eps) + ") must be positive";
    if (!c.valid()) return "invalid hyperparameters";
    return {};
}

namespace detail {
/// True when `output.weight` is byte-identical to `token_embd.weight`: converters write a
/// copy for models trained with a shared classifier (stories260K), which is still tied.
/// memcmp stops at the first difference, so untied files cost almost nothing here.
inline bool output_is_embedding_copy(const TensorView& out, const TensorView& embd) {
    return out.type == embd.type && out.ne == embd.ne && out.n_bytes == embd.n_bytes &&
           (out.n_bytes == 0 || std::memcmp(out.data, embd.data, out.n_bytes) == 0);
}
}  // namespace detail

/// Hyperparameters of a Llama-architecture GGUF. Required: general.architecture == "llama",
/// llama.{embedding_length, block_count, feed_forward_length, attention.head_count,
/// context_length}. Optional with Llama defaults: attention.head_count_kv (= head_count),
/// attention.layer_norm_rms_epsilon (1e-5), rope.freq_base (10000), rope.dimension_count
/// (dim / heads). Vocabulary size: tokenizer.ggml.tokens length, else llama.vocab_size, else
/// token_embd rows. Embeddings are tied when token_embd.weight exists and output.weight is absent
/// or a byte-identical copy of it.
/// Unknown keys (including misspelled ones real files carry) are ignored.
inline ModelConfig config_from_gguf(const GgufFile& f) {
    const std::string& file = f.path();
    const auto arch = f.get_string("general.architecture");
    if (!arch) throw Error("missing required metadata key", {file, {}, "general.architecture"});
    if (*arch != "llama")
        throw Error("unsupported architecture '" + *arch + "' (GRETA runs the llama architecture)",
                    {file, f.key_offset("general.architecture"), "general.architecture"});
    const std::string prefix = *arch + ".";

    auto to_u32 = [&](const std::string& key, std::uint64_t v) {
        if (v > std::numeric_limits<std::uint32_t>::max())
            throw Error("value " + std::to_string(v) + " is out of range", {file, f.key_offset(key), key});
        return static_cast<std::uint32_t>(v);
    };
    auto required = [&](const char* suffix) {
        const std::string key = prefix + suffix;
        const auto v = f.get_uint(key);
        if (!v) throw Error("missing required metadata key", {file, {}, key});
        return to_u32(key, *v);
    };
    auto optional = [&](const char* suffix, std::uint32_t fallback) {
        const std::string key = prefix + suffix;
        const auto v = f.get_uint(key);
        return v ? to_u32(key, *v) : fallback;
    };

    ModelConfig c;
    c.dim = required("embedding_length");
    c.n_layers = required("block_count");
    c.ffn_dim = required("feed_forward_length");
    c.n_heads = required("attention.head_count");
    c.n_kv_heads = optional("attention.head_count_kv", c.n_heads);
    c.max_context = required("context_length");
    c.head_dim = optional("rope.dimension_count", c.n_heads && c.dim % c.n_heads == 0 ? c.dim / c.n_heads : 0);
    c.norm_eps = static_cast<float>(f.get_float(prefix + "attention.layer_norm_rms_epsilon").value_or(1e-5));
    c.rope_theta = static_cast<float>(f.get_float(prefix + "rope.freq_base").value_or(10000.0));

    if (const auto scaling = f.get_string(prefix + "rope.scaling.type"); scaling && *scaling != "none")
        throw Error("RoPE scaling '" + *scaling + "' is not supported",
                    {file, f.key_offset(prefix + "rope.scaling.type"), prefix + "rope.scaling.type"});

    const TensorView* embd = f.find_tensor("token_embd.weight");
    if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens"); tokens && tokens->is_array())
        c.vocab_size = to_u32("tokenizer.ggml.tokens", tokens->size());
    else if (f.find(prefix + "vocab_size"))
        c.vocab_size = optional("vocab_size", 0);
    else if (embd)
        c.vocab_size = to_u32("token_embd.weight", embd->ne[1]);
    else
        throw Error("cannot determine the vocabulary size: no tokenizer.ggml.tokens, " + prefix +
                        "vocab_size or token_embd.weight",
                    {file, {}, {}});

    const TensorView* out = f.find_tensor("output.weight");
    // Without any weights (a vocabulary-only file) nothing says so: assume untied, like Llama.
    c.tied_embeddings = embd && (out == nullptr || detail::output_is_embedding_copy(*out, *embd));

    if (const std::string problem = config_problem(c); !problem.empty())
        throw Error("invalid model hyperparameters: " + problem, {file, {}, {}});
    return c;
}

}  // namespace greta::io
