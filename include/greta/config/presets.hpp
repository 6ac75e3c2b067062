#pragma once
/// @file Preset model configurations. Each preset is a type holding `static constexpr cfg`, so
/// it can be a template argument of a kernel (nvcc 13 rejects namespaced class-type NTTPs there).

#include <concepts>

#include <greta/config/model_config.hpp>

namespace greta {

struct Llama2_7B {
    static constexpr const char* name = "llama2-7b";
    static constexpr ModelConfig cfg{4096, 32, 32, 32, 128, 11008, 32000, 4096, 10000.0f, 1e-5f, false};
};
struct Llama2_13B {
    static constexpr const char* name = "llama2-13b";
    static constexpr ModelConfig cfg{5120, 40, 40, 40, 128, 13824, 32000, 4096, 10000.0f, 1e-5f, false};
};
struct Llama2_70B {
    static constexpr const char* name = "llama2-70b";
    static constexpr ModelConfig cfg{8192, 80, 64, 8, 128, 28672, 32000, 4096, 10000.0f, 1e-5f, false};
};
struct TinyLlama_1_1B {
    static constexpr const char* name = "tinyllama-1.1b";
    static constexpr ModelConfig cfg{2048, 22, 32, 4, 64, 5632, 32000, 2048, 10000.0f, 1e-5f, false};
};
/// Karpathy's stories260K (llama2.c). Its GGUF says context_length 128; the checkpoint 512.
struct Stories260K {
    static constexpr const char* name = "stories260k";
    static constexpr ModelConfig cfg{64, 5, 8, 4, 8, 172, 512, 512, 10000.0f, 1e-5f, true};
};

/// Presets must satisfy the invariants and their own arithmetic.
template <class Preset>
concept ModelPreset = requires {
    { Preset::cfg } -> std::convertible_to<ModelConfig>;
} && Preset::cfg.valid() && Preset::cfg.head_dim * Preset::cfg.n_heads == Preset::cfg.dim;

static_assert(ModelPreset<Llama2_7B> && ModelPreset<Llama2_13B> && ModelPreset<Llama2_70B> &&
              ModelPreset<TinyLlama_1_1B> && ModelPreset<Stories260K>);
static_assert(Llama2_7B::cfg.n_params() > 6'700'000'000ull && Llama2_7B::cfg.n_params() < 6'800'000'000ull,
              "Llama-2-7B has 6.74B parameters");
static_assert(Llama2_70B::cfg.gqa_group() == 8);

/// Calls f.template operator()<Preset>() for every preset; stops when f returns true.
template <class F>
constexpr bool for_each_preset(F&& f) {
    return f.template operator()<Llama2_7B>() || f.template operator()<Llama2_13B>() ||
           f.template operator()<Llama2_70B>() || f.template operator()<TinyLlama_1_1B>() ||
           f.template operator()<Stories260K>();
}

}  // namespace greta
