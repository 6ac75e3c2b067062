#pragma once
/// @file SamplingParams: the knobs of the sampler chain and their validation.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include <greta/core/error.hpp>

namespace greta::sampling {

/// Seed used when the caller gives none. Fixed, so that a run with default settings can be
/// repeated; a CLI that wants fresh text each run passes its own (e.g. from the clock).
inline constexpr std::uint64_t default_seed = 42;

/// Parameters of the sampler chain, applied in llama.cpp's order:
/// penalties -> (greedy if temperature == 0) -> top-k -> top-p -> min-p -> temperature -> draw.
/// A filter at its neutral value (top_k 0, top_p 1, min_p 0, penalties 1/0/0) is skipped.
struct SamplingParams {
    float temperature = 0.8f;        ///< >= 0; 0 selects greedy (argmax, lowest id on ties)
    int top_k = 40;                  ///< >= 0; keep the k most likely tokens; 0 disables
    float top_p = 0.95f;             ///< (0, 1]; smallest set whose probability reaches top_p
    float min_p = 0.05f;             ///< [0, 1]; drop tokens below min_p x the top probability
    float repeat_penalty = 1.0f;     ///< > 0; divides positive / multiplies negative logits of recent tokens
    float presence_penalty = 0.0f;   ///< subtracted once from each recent token's logit
    float frequency_penalty = 0.0f;  ///< subtracted per occurrence of a recent token
    int penalty_last_n = 64;         ///< >= 0; how many accepted tokens the penalties look back on
    std::uint64_t seed = default_seed;

    /// Throws greta::Error naming the first invalid value, e.g.
    /// "invalid sampling parameter: top_p = 1.5 (must be in (0, 1])".
    void validate() const {
        require_finite("temperature", temperature);
        require("temperature", temperature, temperature >= 0.0f, "must be >= 0");
        if (top_k < 0)
            throw Error("invalid sampling parameter: top_k = " + std::to_string(top_k) + " (must be >= 0)");
        require_finite("top_p", top_p);
        require("top_p", top_p, top_p > 0.0f && top_p <= 1.0f, "must be in (0, 1]");
        require_finite("min_p", min_p);
        require("min_p", min_p, min_p >= 0.0f && min_p <= 1.0f, "must be in [0, 1]");
        require_finite("repeat_penalty", repeat_penalty);
        require("repeat_penalty", repeat_penalty, repeat_penalty > 0.0f, "must be > 0");
        require_finite("presence_penalty", presence_penalty);
        require_finite("frequency_penalty", frequency_penalty);
        if (penalty_last_n < 0)
            throw Error("invalid sampling parameter: penalty_last_n = " + std::to_string(penalty_last_n) +
                        " (must be >= 0)");
    }

private:
    static std::string show(float v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
        return buf;
    }
    static void require(const char* name, float v, bool ok, const char* rule) {
        if (ok) return;
        throw Error(std::string("invalid sampling parameter: ") + name + " = " + show(v) + " (" + rule + ")");
    }
    static void require_finite(const char* name, float v) {
        require(name, v, std::isfinite(v), "must be a finite number");
    }
};

}  // namespace greta::sampling
