#pragma once
/// @file Synthetic models: the exact shapes of a preset (Llama-2-7B first) filled with random
/// weights in valid block encodings, generated directly as bytes (no quantizer over billions
/// of values) on all cores, deterministically from a seed.
///
/// Encodings are sane: fp16 scales are normal numbers, nothing is NaN or Inf, and scales are
/// chosen so that each matrix keeps the variance of its input (Var(w) ~ 1/K), so activations
/// stay bounded through every layer. The per-tensor types follow llama.cpp's presets:
///   q4_k_m: Q4_K everywhere, output.weight Q6_K, and attn_v / ffn_down Q6_K on the layers
///           where llama.cpp's use_more_bits(i, n) holds (src/llama-quant.cpp,
///           llama_tensor_get_type: `i < n/8 || i >= 7*n/8 || (i - n/8) % 3 == 2`),
///   q6_k / q8_0 / f16: that type for every matrix; norms are F32.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <greta/config/model_config.hpp>
#include <greta/config/presets.hpp>
#include <greta/core/dtype.hpp>
#include <greta/core/error.hpp>
#include <greta/core/half.hpp>
#include <greta/core/tensor_view.hpp>
#include <greta/core/thread_pool.hpp>
#include <greta/model/weights.hpp>
#include <greta/quant/q4_k.hpp>
#include <greta/quant/q6_k.hpp>
#include <greta/quant/q8_0.hpp>

namespace greta::model {

/// A synthetic model: owns its bytes; `tensors` uses GGUF names and dimension order, `weights`
/// binds them by role. Moving keeps every view valid (the bytes live on the heap).
struct SyntheticModel {
    std::string preset;
    std::string quant;
    std::uint64_t seed = 0;
    std::vector<TensorView> tensors;
    ModelWeights weights;
    std::unique_ptr<std::byte[]> storage;
    std::uint64_t storage_bytes = 0;
};

namespace synthetic {

/// llama.cpp's choice of layers that get more bits in Q4_K_M (see the file comment).
constexpr bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

/// Hyperparameters by preset name: any greta preset ("llama2-7b", "tinyllama-1.1b", ...) or
/// "tiny" (dim 256, 2 layers, GQA 4/2, vocab 512: the shape of ../shared's synthetic-tiny).
inline ModelConfig preset_config(std::string_view name) {
    if (name == "tiny") return ModelConfig{256, 2, 4, 2, 64, 768, 512, 512, 10000.0f, 1e-5f, false};
    ModelConfig out{};
    const bool found = for_each_preset([&]<class P>() {
        if (name != P::name) return false;
        out = P::cfg;
        return true;
    });
    check(found, [&] { return "unknown synthetic preset '" + std::string(name) + "' (llama2-7b, tiny, ...)"; });
    out.tied_embeddings = false;
    return out;
}

/// The storage type of each tensor under a quantization preset.
struct TypePlan {
    DType embd, output, norm = DType::F32;
    DType matrix(std::string_view role, int layer, int n_layers) const {
        if (quant == "q4_k_m" && (role == "attn_v" || role == "ffn_down") && use_more_bits(layer, n_layers))
            return DType::Q6_K;
        return base;
    }
    std::string quant;
    DType base = DType::F16;
};

inline TypePlan type_plan(std::string_view quant) {
    TypePlan p;
    p.quant = std::string(quant);
    if (quant == "q4_k_m") p.base = DType::Q4_K, p.embd = DType::Q4_K, p.output = DType::Q6_K;
    else if (quant == "q6_k") p.base = p.embd = p.output = DType::Q6_K;
    else if (quant == "q8_0") p.base = p.embd = p.output = DType::Q8_0;
    else if (quant == "f16") p.base = p.embd = p.output = DType::F16;
    else throw Error("unknown synthetic quantization '" + std::string(quant) + "' (q4_k_m, q6_k, q8_0, f16)");
    return p;
}

/// Counter-based generator: the bytes of block b of tensor t depend only on (seed, t, b), so
/// the result does not depend on the thread count.
struct Rng {
    std::uint64_t s;
    Rng(std::uint64_t seed, std::uint64_t tensor, std::uint64_t block)
        : s(mix(seed ^ mix(tensor * 0x9E3779B97F4A7C15ull + block))) {}
    static constexpr std::uint64_t mix(std::uint64_t z) {
        z += 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    std::uint64_t next() { return mix(s += 0x9E3779B97F4A7C15ull); }
    float uniform() { return float(next() >> 40) * (1.0f / 16777216.0f); }  // [0, 1)
    int range(int lo, int hi) { return lo + int(next() % std::uint64_t(hi - lo + 1)); }
    void fill(std::uint8_t* p, std::size_t n) {
        for (std::size_t i = 0; i < n; i += 8) {
            const std::uint64_t v = next();
            std::memcpy(p + i, &v, std::min<std::size_t>(8, n - i));
        }
    }
};

/// Fills one storage block (block_values values) with weights of standard deviation ~`sd`.
inline void fill_block(DType type, std::byte* out, float sd, Rng& rng) {
    auto jitter = [&] { return 0.8f + 0.4f * rng.uniform(); };
    switch (type) {
        case DType::Q4_K: {
            // w = d*sc*q - dmin*m with m = sc, dmin = 7.5 d: zero mean, Var = (d sc)^2 * 21.25.
            auto& b = *reinterpret_cast<quant::BlockQ4K*>(out);
            std::memset(b.scales, 0, sizeof b.scales);
            int sc[8];
            float mean_sc = 0;
            for (int j = 0; j < 8; ++j) mean_sc += float(sc[j] = rng.range(8, 23));
            mean_sc /= 8;
            const float d = sd * jitter() / (mean_sc * std::sqrt(21.25f));
            b.d = f32_to_fp16(d);
            b.dmin = f32_to_fp16(7.5f * fp16_to_f32(b.d));
            for (int j = 0; j < 8; ++j) quant::q4k_set_scale_min(b.scales, j, std::uint8_t(sc[j]), std::uint8_t(sc[j]));
            rng.fill(b.qs, sizeof b.qs);
            return;
        }
        case DType::Q6_K: {
            // w = d*sc*(q-32): Var = (d sc)^2 * 341.25; scales +-[4, 12].
            auto& b = *reinterpret_cast<quant::BlockQ6K*>(out);
            float mean_sc = 0;
            for (int j = 0; j < 16; ++j) {
                const int s = rng.range(4, 12);
                mean_sc += float(s);
                b.scales[j] = std::int8_t((rng.next() & 1) ? s : -s);
            }
            mean_sc /= 16;
            b.d = f32_to_fp16(sd * jitter() / (mean_sc * std::sqrt(341.25f)));
            rng.fill(b.ql, sizeof b.ql);
            rng.fill(b.qh, sizeof b.qh);
            return;
        }
        case DType::Q8_0: {
            // w = d*q, q uniform in [-127, 127]: Var = d^2 * 127*128/3.
            auto& b = *reinterpret_cast<quant::BlockQ8_0*>(out);
            b.d = f32_to_fp16(sd * jitter() / std::sqrt(127.0f * 128.0f / 3.0f));
            rng.fill(reinterpret_cast<std::uint8_t*>(b.qs), sizeof b.qs);
            for (auto& q : b.qs)
                if (q == -128) q = -127;
            return;
        }
        case DType::F16: {
            const float a = sd * std::sqrt(3.0f);
            std::uint16_t h = f32_to_fp16((2.0f * rng.uniform() - 1.0f) * a);
            std::memcpy(out, &h, 2);
            return;
        }
        case DType::F32: {
            const float v = 0.8f + 0.4f * rng.uniform();  // norm weights
            std::memcpy(out, &v, 4);
            return;
        }
        default: throw Error("synthetic: unsupported type " + std::string(dtype_name(type)));
    }
}

}  // namespace synthetic

/// Builds a synthetic model of `preset` ("llama2-7b", "tiny", any greta preset name) in
/// `quant` (q4_k_m, q6_k, q8_0, f16). Throws greta::Error for unknown names or for K-quant
/// layouts of shapes that are not multiples of 256.
inline SyntheticModel make_synthetic(std::string_view preset, std::string_view quant, std::uint64_t seed,
                                     std::size_t threads = 0) {
    const ModelConfig cfg = synthetic::preset_config(preset);
    const synthetic::TypePlan plan = synthetic::type_plan(quant);

    struct Spec {
        std::string name;
        DType type;
        std::uint64_t cols, rows;
        float sd;
    };
    std::vector<Spec> specs;
    const std::uint64_t d = cfg.dim, f = cfg.ffn_dim;
    const float in_d = 1.0f / std::sqrt(float(d)), in_f = 1.0f / std::sqrt(float(f)), in_q = 1.0f / std::sqrt(float(cfg.q_dim()));
    specs.push_back({"token_embd.weight", plan.embd, d, cfg.vocab_size, 1.0f});
    const int L = int(cfg.n_layers);
    for (int l = 0; l < L; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        specs.push_back({p + "attn_norm.weight", DType::F32, d, 1, 0});
        specs.push_back({p + "attn_q.weight", plan.matrix("attn_q", l, L), d, cfg.q_dim(), in_d});
        specs.push_back({p + "attn_k.weight", plan.matrix("attn_k", l, L), d, cfg.kv_dim(), in_d});
        specs.push_back({p + "attn_v.weight", plan.matrix("attn_v", l, L), d, cfg.kv_dim(), in_d});
        specs.push_back({p + "attn_output.weight", plan.matrix("attn_output", l, L), cfg.q_dim(), d, in_q});
        specs.push_back({p + "ffn_norm.weight", DType::F32, d, 1, 0});
        specs.push_back({p + "ffn_gate.weight", plan.matrix("ffn_gate", l, L), d, f, in_d});
        specs.push_back({p + "ffn_up.weight", plan.matrix("ffn_up", l, L), d, f, in_d});
        specs.push_back({p + "ffn_down.weight", plan.matrix("ffn_down", l, L), f, d, in_f});
    }
    specs.push_back({"output_norm.weight", DType::F32, d, 1, 0});
    specs.push_back({"output.weight", plan.output, d, cfg.vocab_size, 2.0f * in_d});

    std::vector<std::uint64_t> offsets;
    std::uint64_t total = 0;
    for (const Spec& s : specs) {
        const auto rb = row_bytes(s.type, s.cols);
        check(rb.has_value(), [&] {
            return "synthetic " + std::string(quant) + ": rows of " + std::to_string(s.cols) + " values are not whole " +
                   std::string(dtype_name(s.type)) + " blocks";
        }, {{}, {}, s.name});
        offsets.push_back(total);
        total += (*rb * s.rows + 63) & ~std::uint64_t(63);
    }

    SyntheticModel m;
    m.preset = std::string(preset);
    m.quant = std::string(quant);
    m.seed = seed;
    m.storage.reset(new std::byte[total]);
    m.storage_bytes = total;

    // Generate block by block across threads; ~1 MiB of blocks per task.
    ThreadPool pool(threads);
    for (std::size_t t = 0; t < specs.size(); ++t) {
        const Spec& s = specs[t];
        const DTypeInfo info = dtype_info(s.type);
        const std::uint64_t blocks = s.cols * s.rows / info.block_values;
        std::byte* base = m.storage.get() + offsets[t];
        const std::uint64_t per_task = std::max<std::uint64_t>(1, (1u << 20) / info.block_bytes);
        const std::uint64_t tasks = (blocks + per_task - 1) / per_task;
        pool.parallel_for(tasks, [&](std::size_t task) {
            const std::uint64_t b0 = task * per_task, b1 = std::min(blocks, b0 + per_task);
            synthetic::Rng rng(seed, t, b0);
            for (std::uint64_t b = b0; b < b1; ++b) synthetic::fill_block(s.type, base + b * info.block_bytes, s.sd, rng);
        });
        TensorView v;
        v.name = s.name;
        v.type = s.type;
        v.n_dims = s.rows == 1 ? 1 : 2;
        v.ne = {s.cols, s.rows, 1, 1};
        v.data = base;
        v.n_bytes = *row_bytes(s.type, s.cols) * s.rows;
        m.tensors.push_back(std::move(v));
    }
    m.weights = bind_weights(cfg, RopeStyle::AdjacentPairs, m.tensors, "synthetic " + m.preset + " " + m.quant);
    return m;
}

}  // namespace greta::model
