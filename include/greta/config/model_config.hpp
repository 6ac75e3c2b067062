#pragma once
/// @file ModelConfig: the hyperparameters of a Llama-family model, as a literal type.

#include <cstdint>

namespace greta {

/// How the q/k projection rows pair up for RoPE. GGUF (and llama2.c) store them permuted so
/// that rotated pairs are adjacent (x[2i], x[2i+1]); Hugging Face checkpoints use the
/// rotate-half order (x[i], x[i + head_dim/2]).
enum class RopeStyle { AdjacentPairs, RotateHalf };

/// Hyperparameters of a Llama-family decoder. A literal type: presets are constexpr, and the
/// same struct describes a file's hyperparameters at run time.
struct ModelConfig {
    std::uint32_t dim = 0;          ///< model (embedding) width
    std::uint32_t n_layers = 0;
    std::uint32_t n_heads = 0;
    std::uint32_t n_kv_heads = 0;   ///< < n_heads means grouped-query attention
    std::uint32_t head_dim = 0;     ///< usually dim / n_heads
    std::uint32_t ffn_dim = 0;      ///< SwiGLU hidden width
    std::uint32_t vocab_size = 0;
    std::uint32_t max_context = 0;  ///< positions the model was trained for
    float rope_theta = 10000.0f;
    float norm_eps = 1e-5f;
    bool tied_embeddings = false;   ///< lm_head shares the token embedding matrix

    // Derived values, computed in one place.
    constexpr std::uint32_t q_dim() const { return n_heads * head_dim; }
    constexpr std::uint32_t kv_dim() const { return n_kv_heads * head_dim; }
    constexpr std::uint32_t gqa_group() const { return n_kv_heads ? n_heads / n_kv_heads : 0; }
    /// Parameters, counting a tied lm_head once.
    constexpr std::uint64_t n_params() const {
        const std::uint64_t d = dim, f = ffn_dim, v = vocab_size;
        const std::uint64_t per_layer = d * q_dim() + 2 * d * kv_dim() + q_dim() * d + 3 * d * f + 2 * d;
        return v * d + n_layers * per_layer + d + (tied_embeddings ? 0 : v * d);
    }
    /// FP16 KV-cache bytes for `ctx` positions.
    constexpr std::uint64_t kv_cache_bytes(std::uint32_t ctx) const {
        return 2ull * n_layers * ctx * kv_dim() * 2ull;
    }
    /// Invariants every usable config satisfies. Used by static_assert on presets and
    /// checked at run time on configs read from files.
    constexpr bool valid() const {
        return dim > 0 && n_layers > 0 && n_heads > 0 && n_kv_heads > 0 && head_dim > 0 &&
               ffn_dim > 0 && vocab_size > 0 && max_context > 0 && n_heads % n_kv_heads == 0 &&
               head_dim % 2 == 0 && rope_theta > 0.0f && norm_eps > 0.0f;
    }
    constexpr bool operator==(const ModelConfig&) const = default;
};

}  // namespace greta
