#pragma once
/// @file Parity between two backends on the same tokens: per-layer hidden-state drift, logits
/// error, top-1/top-5 agreement, KL divergence and greedy-sequence agreement.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include <greta/model/backend.hpp>

namespace greta::validate {

/// Bounds a parity run must meet. Defaults are the GPU-vs-CPU acceptance bounds of the project.
struct ParityBounds {
    double max_logits_rel = 1e-2;  ///< max |a-b| / max |ref| over any logits row
    double min_top1 = 1.0;         ///< fraction of rows whose argmax agrees
    double max_kl = 1e-3;          ///< mean KL(ref || test) of the softmax, nats
    bool require_same_greedy = true;
    int greedy_steps = 32;
};

struct LayerDrift {
    std::size_t layer = 0;  ///< n_layers means "after the final norm"
    double max_abs = 0, max_rel = 0;
};

struct ParityReport {
    std::vector<LayerDrift> layers;       ///< last prompt position; empty if a backend cannot capture
    std::size_t rows = 0;                 ///< logits rows compared (prompt + greedy steps)
    double logits_max_abs = 0, logits_max_rel = 0;
    double top1 = 0, top5 = 0;            ///< agreement fractions
    double kl_mean = 0, kl_max = 0;
    std::vector<std::int32_t> greedy_ref, greedy_test;
    int first_divergence = -1;            ///< step where the greedy ids first differ, or -1
    std::vector<std::string> failures;    ///< one line per violated bound
    bool passed() const { return failures.empty(); }
};

namespace detail {
inline std::vector<std::size_t> top_k_ids(std::span<const float> v, std::size_t k) {
    std::vector<std::size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    k = std::min(k, idx.size());
    std::partial_sort(idx.begin(), idx.begin() + std::ptrdiff_t(k), idx.end(),
                      [&](std::size_t a, std::size_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
    idx.resize(k);
    return idx;
}

/// KL(p || q) for p = softmax(ref), q = softmax(test), in double.
inline double kl_divergence(std::span<const float> ref, std::span<const float> test) {
    const double mr = *std::max_element(ref.begin(), ref.end()), mt = *std::max_element(test.begin(), test.end());
    double zr = 0, zt = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        zr += std::exp(double(ref[i]) - mr);
        zt += std::exp(double(test[i]) - mt);
    }
    double kl = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        const double lp = double(ref[i]) - mr - std::log(zr), lq = double(test[i]) - mt - std::log(zt);
        kl += std::exp(lp) * (lp - lq);
    }
    return std::max(kl, 0.0);
}
}  // namespace detail

/// Evaluates `prompt` on both backends (fresh KV caches, position 0), then `greedy_steps`
/// decode steps fed with the reference's greedy token so both see the same context; compares
/// every logits row and records both greedy choices.
inline ParityReport compare_backends(model::Backend& test, model::Backend& ref, std::span<const std::int32_t> prompt,
                                     const ParityBounds& bounds = {}) {
    ParityReport rep;
    const std::size_t V = ref.config().vocab_size, P = prompt.size();
    std::vector<float> lt(P * V), lr(P * V);
    test.capture_hidden(true);
    ref.capture_hidden(true);
    test.forward(prompt, 0, lt.data(), true);
    ref.forward(prompt, 0, lr.data(), true);
    const auto ht = test.hidden_states(), hr = ref.hidden_states();
    test.capture_hidden(false);
    ref.capture_hidden(false);
    // A backend may capture fewer entries (the GPU fuses the final norm into lm_head): compare
    // the layers both have.
    if (!ht.empty() && !hr.empty()) {
        for (std::size_t l = 0; l < std::min(ht.size(), hr.size()); ++l) {
            LayerDrift d{l, 0, 0};
            double max_ref = 0;
            for (std::size_t i = 0; i < hr[l].size(); ++i) {
                d.max_abs = std::max(d.max_abs, std::abs(double(ht[l][i]) - double(hr[l][i])));
                max_ref = std::max(max_ref, std::abs(double(hr[l][i])));
            }
            d.max_rel = d.max_abs / std::max(max_ref, 1e-30);
            rep.layers.push_back(d);
        }
    }

    double kl_sum = 0, top1 = 0, top5 = 0;
    auto compare_row = [&](std::span<const float> a, std::span<const float> b) {
        double max_abs = 0, max_ref = 0;
        for (std::size_t i = 0; i < V; ++i) {
            max_abs = std::max(max_abs, std::abs(double(a[i]) - double(b[i])));
            max_ref = std::max(max_ref, std::abs(double(b[i])));
        }
        rep.logits_max_abs = std::max(rep.logits_max_abs, max_abs);
        rep.logits_max_rel = std::max(rep.logits_max_rel, max_abs / std::max(max_ref, 1e-30));
        const auto ta = detail::top_k_ids(a, 5), tb = detail::top_k_ids(b, 5);
        top1 += ta[0] == tb[0];
        std::size_t common = 0;
        for (auto x : ta) common += std::count(tb.begin(), tb.end(), x);
        top5 += double(common) / double(tb.size());
        const double kl = detail::kl_divergence(b, a);
        kl_sum += kl;
        rep.kl_max = std::max(rep.kl_max, kl);
        ++rep.rows;
    };
    for (std::size_t r = 0; r < P; ++r) compare_row({&lt[r * V], V}, {&lr[r * V], V});

    std::vector<float> st(V), sr(V);
    std::copy_n(&lt[(P - 1) * V], V, st.begin());
    std::copy_n(&lr[(P - 1) * V], V, sr.begin());
    const std::uint32_t ctx = std::min(test.context_length(), ref.context_length());
    for (int step = 0; step < bounds.greedy_steps; ++step) {
        const auto gt = std::int32_t(detail::top_k_ids(st, 1)[0]), gr = std::int32_t(detail::top_k_ids(sr, 1)[0]);
        rep.greedy_test.push_back(gt);
        rep.greedy_ref.push_back(gr);
        if (gt != gr && rep.first_divergence < 0) rep.first_divergence = step;
        const std::uint32_t pos = std::uint32_t(P) + std::uint32_t(step);
        if (step + 1 == bounds.greedy_steps || pos >= ctx) break;
        test.forward(std::span<const std::int32_t>(&gr, 1), pos, st.data(), false);
        ref.forward(std::span<const std::int32_t>(&gr, 1), pos, sr.data(), false);
        compare_row(st, sr);
    }
    rep.top1 = top1 / double(rep.rows);
    rep.top5 = top5 / double(rep.rows);
    rep.kl_mean = kl_sum / double(rep.rows);

    auto fail = [&](std::string s) { rep.failures.push_back(std::move(s)); };
    if (rep.logits_max_rel > bounds.max_logits_rel)
        fail("logits max relative error " + std::to_string(rep.logits_max_rel) + " > " + std::to_string(bounds.max_logits_rel));
    if (rep.top1 < bounds.min_top1)
        fail("top-1 agreement " + std::to_string(rep.top1) + " < " + std::to_string(bounds.min_top1));
    if (rep.kl_mean > bounds.max_kl)
        fail("mean KL divergence " + std::to_string(rep.kl_mean) + " > " + std::to_string(bounds.max_kl));
    if (bounds.require_same_greedy && rep.first_divergence >= 0)
        fail("greedy sequences diverge at step " + std::to_string(rep.first_divergence));
    return rep;
}

}  // namespace greta::validate
