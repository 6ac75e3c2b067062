#pragma once
/// @file Sampler: picks the next token from a row of logits with the chain of SamplingParams.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include <greta/core/error.hpp>
#include <greta/sampling/filters.hpp>
#include <greta/sampling/params.hpp>
#include <greta/sampling/rng.hpp>

namespace greta::sampling {

/// Stateful token sampler: owns the seeded RNG and the window of recently accepted tokens the
/// penalties look at. Chain (llama.cpp's order): penalties -> greedy if temperature == 0 ->
/// top-k -> top-p -> min-p -> temperature -> softmax -> draw. The same seed, logits and accepted
/// tokens give the same choices on every run and platform. Allocates only in the constructor.
class Sampler {
public:
    /// Validates `params` (throws greta::Error) and sizes the buffers for `vocab` tokens.
    Sampler(SamplingParams params, std::size_t vocab) : params_(params), vocab_(vocab), rng_(params.seed) {
        params_.validate();
        if (vocab == 0 || vocab > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
            throw Error("sampler: vocabulary size " + std::to_string(vocab) + " out of range");
        history_.resize(static_cast<std::size_t>(params_.penalty_last_n));
        recent_.reserve(history_.size());
        if (penalties_active()) work_.resize(vocab);
        // Reserving the whole vocabulary once keeps sample() free of allocations.
        candidates_.assign(std::vector<float>(vocab, 0.0f));
    }

    /// Picks a token from `logits` (one per vocabulary entry). Does not record it: call
    /// accept() with the token actually used (the caller may override the choice).
    std::int32_t sample(std::span<const float> logits) {
        if (logits.size() != vocab_)
            throw Error("sampler: got " + std::to_string(logits.size()) + " logits for a vocabulary of " +
                        std::to_string(vocab_));
        std::span<const float> scores = logits;
        if (penalties_active() && history_count_ > 0) {
            std::copy(logits.begin(), logits.end(), work_.begin());
            recent_.clear();
            for (std::size_t i = 0; i < history_count_; ++i)
                recent_.push_back(history_[(history_start_ + i) % history_.size()]);
            apply_penalties(work_, recent_, params_.repeat_penalty, params_.presence_penalty,
                            params_.frequency_penalty);
            scores = work_;
        }
        check_logits(scores);
        if (params_.temperature == 0.0f) return argmax(scores);

        candidates_.assign(scores);
        top_k(candidates_, params_.top_k);
        top_p(candidates_, params_.top_p);
        min_p(candidates_, params_.min_p);
        apply_temperature(candidates_, params_.temperature);
        return draw(candidates_, rng_.uniform_float());
    }

    /// Records `token` as generated (or fed back), for the penalty window.
    void accept(std::int32_t token) {
        if (token < 0 || static_cast<std::size_t>(token) >= vocab_)
            throw Error("sampler: accepted token " + std::to_string(token) + " outside the vocabulary of " +
                        std::to_string(vocab_));
        if (history_.empty()) return;
        if (history_count_ < history_.size()) {
            history_[(history_start_ + history_count_) % history_.size()] = token;
            ++history_count_;
        } else {  // window full: overwrite the oldest
            history_[history_start_] = token;
            history_start_ = (history_start_ + 1) % history_.size();
        }
    }

    /// Forgets accepted tokens and restarts the RNG from the seed: the next sample() calls
    /// repeat those made after construction.
    void reset() {
        history_start_ = 0;
        history_count_ = 0;
        rng_.reseed(params_.seed);
    }

    const SamplingParams& params() const noexcept { return params_; }
    std::size_t vocab_size() const noexcept { return vocab_; }

private:
    bool penalties_active() const noexcept {
        return params_.penalty_last_n > 0 &&
               (params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                params_.frequency_penalty != 0.0f);
    }

    // A NaN would break the ranking order (and any draw); a model that emits one is broken.
    // One branch-free pass (vectorizes: ~10 us for 32000 logits); the culprit is looked up
    // only on failure.
    static void check_logits(std::span<const float> scores) {
        bool all_below_inf = true;  // false for NaN and +inf
        bool any_finite = false;
        for (const float x : scores) {
            all_below_inf &= x < INFINITY;
            any_finite |= x > -INFINITY;
        }
        if (!all_below_inf) {
            for (std::size_t i = 0; i < scores.size(); ++i)
                if (!(scores[i] < INFINITY))
                    throw Error("sampler: logit of token " + std::to_string(i) + " is " +
                                (std::isnan(scores[i]) ? "NaN" : "+inf"));
        }
        if (!any_finite) throw Error("sampler: every logit is -inf");
    }

    SamplingParams params_;
    std::size_t vocab_;
    Rng rng_;
    std::vector<std::int32_t> history_;  // ring buffer of the last penalty_last_n tokens
    std::size_t history_start_ = 0;
    std::size_t history_count_ = 0;
    std::vector<std::int32_t> recent_;  // scratch: the window, sorted by apply_penalties
    std::vector<float> work_;           // penalized copy of the logits
    Candidates candidates_;
};

}  // namespace greta::sampling
