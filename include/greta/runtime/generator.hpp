#pragma once
/// @file Generator: text -> tokens -> prefill -> decode loop -> streamed text, with stop conditions.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <greta/core/error.hpp>
#include <greta/model/backend.hpp>
#include <greta/sampling/sampler.hpp>
#include <greta/tokenizer/stream_decoder.hpp>
#include <greta/tokenizer/tokenizer.hpp>

namespace greta::runtime {

enum class StopReason { TokenBudget, EndOfSequence, StopString, Callback, ContextFull };

inline std::string_view to_string(StopReason r) {
    switch (r) {
        case StopReason::TokenBudget: return "token budget";
        case StopReason::EndOfSequence: return "end of sequence";
        case StopReason::StopString: return "stop string";
        case StopReason::Callback: return "stopped by caller";
        case StopReason::ContextFull: return "context full";
    }
    return "?";
}

struct GenerateOptions {
    /// Tokens to generate; -1 generates until the context is full.
    int n_predict = 128;
    sampling::SamplingParams sampling{};
    std::vector<std::string> stop_strings;
    bool add_bos = true;
};

/// Timings of one generate() call, in milliseconds.
struct GenerationStats {
    std::size_t n_prompt = 0;
    std::size_t n_generated = 0;
    double prompt_ms = 0;   ///< prefill of the prompt
    double ttft_ms = 0;     ///< from the start of generate() to the first generated token
    double generate_ms = 0; ///< decode steps after the first token
    StopReason stop = StopReason::TokenBudget;
    std::vector<std::int32_t> tokens;  ///< generated ids, EOS excluded

    double prompt_tokens_per_s() const { return prompt_ms > 0 ? n_prompt * 1e3 / prompt_ms : 0; }
    /// Decode rate over the tokens after the first (the first comes from the prefill).
    double generate_tokens_per_s() const {
        return generate_ms > 0 && n_generated > 1 ? double(n_generated - 1) * 1e3 / generate_ms : 0;
    }
};

/// Receives each complete piece of text; return false to stop.
using TextCallback = std::function<bool(std::string_view)>;
/// Receives logits rows, e.g. for --dump-logits: one per prompt position, then for every
/// generated token the row it was chosen from (so the first repeats the last prompt row).
using LogitsCallback = std::function<void(std::span<const float>)>;

/// Holds back text that might be the start of a stop string; reports when one is complete.
class StopMatcher {
public:
    explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

    /// Appends text; returns what is safe to emit. Sets stopped() when a stop string appears,
    /// in which case the returned text ends just before it.
    std::string push(std::string_view text) {
        pending_ += text;
        for (const auto& s : stops_) {
            if (s.empty()) continue;
            if (auto at = pending_.find(s); at != std::string::npos) {
                stopped_ = true;
                std::string out = pending_.substr(0, at);
                pending_.clear();
                return out;
            }
        }
        std::size_t keep = 0;  // longest suffix of pending_ that is a proper prefix of a stop string
        for (const auto& s : stops_)
            for (std::size_t n = std::min(s.size() - (s.empty() ? 0 : 1), pending_.size()); n > keep; --n)
                if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
                    keep = n;
                    break;
                }
        std::string out = pending_.substr(0, pending_.size() - keep);
        pending_.erase(0, pending_.size() - keep);
        return out;
    }
    std::string flush() { return std::exchange(pending_, {}); }
    bool stopped() const { return stopped_; }

private:
    std::vector<std::string> stops_;
    std::string pending_;
    bool stopped_ = false;
};

/// Runs generation on a backend. The backend's KV cache is reused from position 0 each call.
class Generator {
public:
    Generator(model::Backend& backend, const tokenizer::Tokenizer& tok) : backend_(backend), tok_(tok) {}

    /// Tokens the prompt becomes (what generate() will evaluate).
    std::vector<std::int32_t> tokenize(std::string_view prompt, bool add_bos) const {
        auto ids = tok_.encode(prompt, add_bos);
        check(!ids.empty(), [] { return std::string("empty prompt and no BOS token: nothing to evaluate"); });
        return ids;
    }

    /// Checks that the prompt and the requested tokens fit the context, before any work.
    void check_fits(std::size_t n_prompt, int n_predict) const {
        const std::size_t ctx = backend_.context_length();
        check(n_prompt <= ctx, [&] {
            return "prompt is " + std::to_string(n_prompt) + " tokens, longer than the context of " +
                   std::to_string(ctx) + " (raise -c)";
        });
        check(n_predict >= -1, [&] { return "invalid number of tokens to predict: " + std::to_string(n_predict); });
        check(n_predict < 0 || n_prompt + std::size_t(n_predict) <= ctx + 1, [&] {
            return "prompt (" + std::to_string(n_prompt) + " tokens) + n_predict (" + std::to_string(n_predict) +
                   ") exceeds the context of " + std::to_string(ctx) + " (raise -c or lower -n)";
        });
    }

    GenerationStats generate(std::string_view prompt, const GenerateOptions& opt, const TextCallback& on_text,
                             const LogitsCallback& on_logits = {}) {
        opt.sampling.validate();
        using clock = std::chrono::steady_clock;
        const auto t0 = clock::now();
        const auto ms_since = [](clock::time_point a) {
            return std::chrono::duration<double, std::milli>(clock::now() - a).count();
        };

        GenerationStats st;
        const auto prompt_ids = tokenize(prompt, opt.add_bos);
        check_fits(prompt_ids.size(), opt.n_predict);
        st.n_prompt = prompt_ids.size();
        const std::size_t ctx = backend_.context_length();
        const std::size_t vocab = backend_.config().vocab_size;
        // The last generated token is sampled, not evaluated, so it may take position ctx.
        const std::size_t budget = opt.n_predict < 0 ? ctx + 1 - st.n_prompt : std::size_t(opt.n_predict);

        sampling::Sampler sampler(opt.sampling, vocab);
        for (auto id : prompt_ids) sampler.accept(id);
        const auto& sp = opt.sampling;
        const bool penalties = sp.repeat_penalty != 1.0f || sp.presence_penalty != 0.0f || sp.frequency_penalty != 0.0f;
        // Plain greedy needs only the argmax, which a GPU backend computes without copying logits.
        const bool greedy_on_device = sp.temperature == 0.0f && !penalties && !on_logits;

        tokenizer::StreamDecoder decoder(tok_);
        StopMatcher stops(opt.stop_strings);
        for (auto id : prompt_ids) decoder.push(id);  // the decoder must know what precedes the output
        decoder.flush();

        std::vector<float> logits(on_logits ? st.n_prompt * vocab : vocab);
        const auto tp = clock::now();
        backend_.forward(prompt_ids, 0, logits.data(), bool(on_logits));
        st.prompt_ms = ms_since(tp);
        if (on_logits)
            for (std::size_t r = 0; r < st.n_prompt; ++r) on_logits(std::span<const float>(&logits[r * vocab], vocab));
        // The row the next token is chosen from.
        const float* chooser = on_logits ? &logits[(st.n_prompt - 1) * vocab] : logits.data();

        std::int32_t next = sampler.sample(std::span<const float>(chooser, vocab));
        std::uint32_t pos = std::uint32_t(st.n_prompt);
        clock::time_point t_first{};
        st.stop = StopReason::TokenBudget;
        // Hands `next` (the token chosen for position pos) to the caller; false once generation
        // stops, with st.stop saying why.
        auto emit = [&]() {
            if (st.n_generated == 0) {
                st.ttft_ms = ms_since(t0);
                t_first = clock::now();
            }
            if (next == tok_.eos()) {
                st.stop = StopReason::EndOfSequence;
                return false;
            }
            sampler.accept(next);
            if (on_logits) on_logits(std::span<const float>(chooser, vocab));
            st.tokens.push_back(next);
            ++st.n_generated;
            const std::string text = stops.push(decoder.push(next));
            if (!text.empty() && on_text && !on_text(text)) {
                st.stop = StopReason::Callback;
                return false;
            }
            if (stops.stopped()) {
                st.stop = StopReason::StopString;
                return false;
            }
            if (st.n_generated == budget) return false;
            if (pos >= ctx) {
                st.stop = StopReason::ContextFull;
                return false;
            }
            return true;
        };
        if (st.n_generated < budget && emit()) {
            if (greedy_on_device) {
                // Every further token is the argmax: the backend chains the steps on the device.
                const std::size_t steps = std::min(budget - st.n_generated, ctx - pos);
                backend_.decode_greedy_run(next, pos, steps, [&](std::int32_t id) {
                    next = id;
                    ++pos;
                    return emit();
                });
            } else {
                do {
                    backend_.forward(std::span<const std::int32_t>(&next, 1), pos, logits.data(), false);
                    chooser = logits.data();
                    next = sampler.sample(std::span<const float>(chooser, vocab));
                    ++pos;
                } while (emit());
            }
        }
        if (st.n_generated > 0) st.generate_ms = ms_since(t_first);
        if (st.stop != StopReason::StopString && st.stop != StopReason::Callback) {
            const std::string rest = stops.push(decoder.flush()) + stops.flush();
            if (!rest.empty() && on_text) on_text(rest);
        }
        return st;
    }

private:
    model::Backend& backend_;
    const tokenizer::Tokenizer& tok_;
};

}  // namespace greta::runtime
