#pragma once
/// @file Backend: what the generator needs from an execution backend (CPU reference or GPU).

#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include <greta/config/model_config.hpp>

namespace greta::model {

/// A model instance with its own KV cache. Positions must be evaluated in order: forward()
/// at `pos` sees the cache entries [0, pos) written by earlier calls.
class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string_view name() const = 0;
    virtual const ModelConfig& config() const = 0;
    /// Positions the KV cache holds.
    virtual std::uint32_t context_length() const = 0;

    /// Evaluates `tokens` at positions [pos, pos + n). Writes n x vocab logits (row-major) when
    /// all_positions, else only the last position's vocab logits.
    virtual void forward(std::span<const std::int32_t> tokens, std::uint32_t pos, float* logits,
                         bool all_positions) = 0;

    /// One decode step that returns the argmax token. GPU backends keep the logits on device.
    virtual std::int32_t decode_greedy(std::int32_t token, std::uint32_t pos) {
        scratch_logits_.resize(config().vocab_size);
        forward(std::span<const std::int32_t>(&token, 1), pos, scratch_logits_.data(), false);
        return static_cast<std::int32_t>(std::max_element(scratch_logits_.begin(), scratch_logits_.end()) -
                                         scratch_logits_.begin());
    }

    /// Greedy decoding of up to n steps: evaluates `token` at `pos`, hands the argmax to
    /// on_token, evaluates it at pos + 1, and so on, until n tokens or on_token returns false.
    /// Returns the tokens handed over. A backend may evaluate one step past a stop (the GPU
    /// queues each step before the previous token is read); the positions it wrote are
    /// overwritten by later calls.
    virtual std::size_t decode_greedy_run(std::int32_t token, std::uint32_t pos, std::size_t n,
                                          const std::function<bool(std::int32_t)>& on_token) {
        for (std::size_t i = 0; i < n; ++i) {
            token = decode_greedy(token, pos + std::uint32_t(i));
            if (!on_token(token)) return i + 1;
        }
        return n;
    }

    /// Validation hook: when on, forward() keeps the hidden state of the last evaluated position
    /// after every layer, then after the final norm ([n_layers + 1][dim]). Backends that cannot
    /// capture return an empty list.
    virtual void capture_hidden(bool on) { (void)on; }
    virtual std::vector<std::vector<float>> hidden_states() const { return {}; }

private:
    std::vector<float> scratch_logits_;
};

}  // namespace greta::model
