#pragma once
/// @file CpuBackend: the FP32 reference forward pass of a Llama-family model.
///
/// Exact and clear first: FP32 activations and KV cache, weights dequantized on the fly from
/// their stored format, norms and softmax reduced in double. Every GPU result is checked
/// against this. Rows of each matrix product are spread over a thread pool; each output element
/// is computed by one thread in a fixed order, so results do not depend on the thread count.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <greta/core/error.hpp>
#include <greta/core/half.hpp>
#include <greta/core/thread_pool.hpp>
#include <greta/model/backend.hpp>
#include <greta/model/weights.hpp>
#include <greta/quant/row.hpp>

namespace greta::model {

namespace cpu {

/// A small vector (norm weights) expanded to float once.
inline std::vector<float> to_floats(const TensorView& t) {
    std::vector<float> out(t.n_elements());
    quant::dequantize_row(t.type, t.data, out.data(), out.size());
    return out;
}

inline float dot(const float* a, const float* b, std::size_t n) {
    // Eight partial sums let the compiler keep independent FMA chains (and vectorize).
    float acc[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

/// y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]
inline void rmsnorm(const float* x, const float* w, float* y, std::size_t n, float eps) {
    double ss = 0.0;
    for (std::size_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
    const float scale = float(1.0 / std::sqrt(ss / double(n) + double(eps)));
    for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

/// Rotates each head of `v` (n_heads x head_dim) by position `pos`.
inline void rope(float* v, std::uint32_t n_heads, std::uint32_t head_dim, std::uint32_t pos, float theta,
                 RopeStyle style) {
    const std::uint32_t half = head_dim / 2;
    for (std::uint32_t i = 0; i < half; ++i) {
        const double freq = std::pow(double(theta), -2.0 * double(i) / double(head_dim));
        const double angle = double(pos) * freq;
        const float c = float(std::cos(angle)), s = float(std::sin(angle));
        for (std::uint32_t h = 0; h < n_heads; ++h) {
            float* head = v + std::size_t(h) * head_dim;
            // GGUF pairs adjacent elements; Hugging Face pairs element i with i + head_dim/2.
            const std::uint32_t a = style == RopeStyle::AdjacentPairs ? 2 * i : i;
            const std::uint32_t b = style == RopeStyle::AdjacentPairs ? 2 * i + 1 : i + half;
            const float x0 = head[a], x1 = head[b];
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
        }
    }
}

inline void round_to_fp16(float* v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) v[i] = fp16_to_f32(f32_to_fp16(v[i]));
}

}  // namespace cpu

/// Lower-precision storage the CPU backend can emulate, to measure what FP16 costs
/// (docs/NUMERICS.md). The reference itself keeps everything in FP32.
struct CpuPrecision {
    bool fp16_kv_cache = false;     ///< round K and V to FP16 as they enter the cache
    bool fp16_activations = false;  ///< round every matrix-product input to FP16
};

/// FP32 reference backend. Not copyable (owns the KV cache); thread count 0 = all cores.
class CpuBackend final : public Backend {
public:
    CpuBackend(const ModelWeights& weights, std::uint32_t context, std::size_t threads = 0,
               CpuPrecision precision = {})
        : w_(weights), cfg_(weights.cfg), context_(context), pool_(threads), precision_(precision) {
        check(context > 0, [] { return std::string("context length must be positive"); });
        out_norm_ = cpu::to_floats(w_.output_norm);
        for (const auto& l : w_.layers) {
            attn_norm_.push_back(cpu::to_floats(l.attn_norm));
            ffn_norm_.push_back(cpu::to_floats(l.ffn_norm));
        }
        const std::size_t kv = std::size_t(cfg_.n_layers) * context * cfg_.kv_dim();
        k_cache_.assign(kv, 0.0f);
        v_cache_.assign(kv, 0.0f);
    }

    std::string_view name() const override { return "cpu"; }
    const ModelConfig& config() const override { return cfg_; }
    std::uint32_t context_length() const override { return context_; }
    std::size_t threads() const { return pool_.size(); }

    void capture_hidden(bool on) override { capture_ = on; }
    std::vector<std::vector<float>> hidden_states() const override { return hidden_; }

    void forward(std::span<const std::int32_t> tokens, std::uint32_t pos, float* logits,
                 bool all_positions) override {
        const std::size_t T = tokens.size();
        check(T > 0, [] { return std::string("forward() needs at least one token"); });
        check(std::size_t(pos) + T <= context_, [&] {
            return "positions " + std::to_string(pos) + ".." + std::to_string(pos + T - 1) +
                   " exceed the context length " + std::to_string(context_);
        });
        const std::size_t dim = cfg_.dim, qd = cfg_.q_dim(), kvd = cfg_.kv_dim(), ffn = cfg_.ffn_dim;
        for (auto t : tokens)
            check(t >= 0 && std::uint32_t(t) < cfg_.vocab_size,
                  [&] { return "token id " + std::to_string(t) + " outside the vocabulary"; });

        std::vector<float> x(T * dim), xn(T * dim), q(T * qd), k(T * kvd), v(T * kvd), att(T * qd);
        std::vector<float> gate(T * ffn), up(T * ffn), tmp(T * dim);
        for (std::size_t t = 0; t < T; ++t)
            quant::dequantize_row(w_.tok_embd.type, w_.tok_embd.row(std::uint64_t(tokens[t])), &x[t * dim], dim);

        if (capture_) hidden_.assign(cfg_.n_layers + 1, std::vector<float>(dim));
        for (std::uint32_t l = 0; l < cfg_.n_layers; ++l) {
            const LayerWeights& lw = w_.layers[l];
            for (std::size_t t = 0; t < T; ++t)
                cpu::rmsnorm(&x[t * dim], attn_norm_[l].data(), &xn[t * dim], dim, cfg_.norm_eps);
            matmul(lw.wq, xn.data(), T, q.data());
            matmul(lw.wk, xn.data(), T, k.data());
            matmul(lw.wv, xn.data(), T, v.data());
            for (std::size_t t = 0; t < T; ++t) {
                const std::uint32_t p = pos + std::uint32_t(t);
                cpu::rope(&q[t * qd], cfg_.n_heads, cfg_.head_dim, p, cfg_.rope_theta, w_.rope_style);
                cpu::rope(&k[t * kvd], cfg_.n_kv_heads, cfg_.head_dim, p, cfg_.rope_theta, w_.rope_style);
                std::copy_n(&k[t * kvd], kvd, kv_row(k_cache_, l, p));
                std::copy_n(&v[t * kvd], kvd, kv_row(v_cache_, l, p));
                if (precision_.fp16_kv_cache) {
                    cpu::round_to_fp16(kv_row(k_cache_, l, p), kvd);
                    cpu::round_to_fp16(kv_row(v_cache_, l, p), kvd);
                }
            }
            attention(l, q.data(), T, pos, att.data());
            matmul(lw.wo, att.data(), T, tmp.data());
            for (std::size_t i = 0; i < T * dim; ++i) x[i] += tmp[i];

            for (std::size_t t = 0; t < T; ++t)
                cpu::rmsnorm(&x[t * dim], ffn_norm_[l].data(), &xn[t * dim], dim, cfg_.norm_eps);
            matmul(lw.w_gate, xn.data(), T, gate.data());
            matmul(lw.w_up, xn.data(), T, up.data());
            for (std::size_t i = 0; i < T * ffn; ++i) {
                const float g = gate[i];
                gate[i] = g / (1.0f + std::exp(-g)) * up[i];  // SwiGLU: silu(gate) * up
            }
            matmul(lw.w_down, gate.data(), T, tmp.data());
            for (std::size_t i = 0; i < T * dim; ++i) x[i] += tmp[i];
            if (capture_) std::copy_n(&x[(T - 1) * dim], dim, hidden_[l].data());
        }

        const std::size_t first = all_positions ? 0 : T - 1;
        const std::size_t rows = T - first;
        for (std::size_t t = first; t < T; ++t)
            cpu::rmsnorm(&x[t * dim], out_norm_.data(), &xn[(t - first) * dim], dim, cfg_.norm_eps);
        if (capture_) std::copy_n(&xn[(rows - 1) * dim], dim, hidden_[cfg_.n_layers].data());
        matmul(w_.output, xn.data(), rows, logits);
    }

private:
    float* kv_row(std::vector<float>& cache, std::uint32_t layer, std::uint32_t p) {
        return cache.data() + (std::size_t(layer) * context_ + p) * cfg_.kv_dim();
    }

    /// y[t][r] = W.row(r) . x[t] for T inputs. A row is dequantized once and reused by every input.
    void matmul(const TensorView& W, const float* x, std::size_t T, float* y) {
        const std::size_t rows = W.rows(), cols = W.cols();
        if (precision_.fp16_activations) {
            rounded_input_.assign(x, x + T * cols);
            cpu::round_to_fp16(rounded_input_.data(), rounded_input_.size());
            x = rounded_input_.data();
        }
        pool_.parallel_for(rows, [&](std::size_t begin, std::size_t end) {
            thread_local std::vector<float> row;
            if (T > 1) row.resize(cols);
            for (std::size_t r = begin; r < end; ++r) {
                if (T == 1) {
                    y[r] = quant::dot_row(W.type, W.row(r), x, cols);
                    continue;
                }
                quant::dequantize_row(W.type, W.row(r), row.data(), cols);
                for (std::size_t t = 0; t < T; ++t) y[t * rows + r] = cpu::dot(row.data(), x + t * cols, cols);
            }
        });
    }

    /// Causal grouped-query attention of T queries at positions pos.. against the cache.
    void attention(std::uint32_t l, const float* q, std::size_t T, std::uint32_t pos, float* out) {
        const std::uint32_t hd = cfg_.head_dim, group = cfg_.gqa_group();
        const std::size_t qd = cfg_.q_dim();
        const float scale = 1.0f / std::sqrt(float(hd));
        pool_.parallel_for(T * cfg_.n_heads, [&](std::size_t begin, std::size_t end) {
            thread_local std::vector<float> scores;
            for (std::size_t job = begin; job < end; ++job) {
                const std::size_t t = job / cfg_.n_heads, h = job % cfg_.n_heads;
                const std::size_t kvh = h / group;
                const std::uint32_t n_keys = pos + std::uint32_t(t) + 1;
                scores.resize(n_keys);
                const float* qh = q + t * qd + h * hd;
                float maxv = -INFINITY;
                for (std::uint32_t j = 0; j < n_keys; ++j) {
                    scores[j] = cpu::dot(qh, kv_row(k_cache_, l, j) + kvh * hd, hd) * scale;
                    maxv = std::max(maxv, scores[j]);
                }
                double sum = 0.0;
                for (std::uint32_t j = 0; j < n_keys; ++j) {
                    scores[j] = std::exp(scores[j] - maxv);
                    sum += scores[j];
                }
                const float inv = float(1.0 / sum);
                float* oh = out + t * qd + h * hd;
                std::fill_n(oh, hd, 0.0f);
                for (std::uint32_t j = 0; j < n_keys; ++j) {
                    const float p = scores[j] * inv;
                    const float* vj = kv_row(v_cache_, l, j) + kvh * hd;
                    for (std::uint32_t i = 0; i < hd; ++i) oh[i] += p * vj[i];
                }
            }
        });
    }

    ModelWeights w_;
    ModelConfig cfg_;
    std::uint32_t context_;
    ThreadPool pool_;
    CpuPrecision precision_;
    std::vector<float> rounded_input_;
    std::vector<float> out_norm_;
    std::vector<std::vector<float>> attn_norm_, ffn_norm_;
    std::vector<float> k_cache_, v_cache_;
    bool capture_ = false;
    std::vector<std::vector<float>> hidden_;
};

}  // namespace greta::model
