#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include <greta/sampling.hpp>

#include "chi_square.hpp"

using greta::sampling::Sampler;
using greta::sampling::SamplingParams;
using greta::test::chi_square;

namespace {

// Ten logits with distinct values; sorted: 7 (3.0), 1 (2.5), 3 (2.0), 5 (1.7), 9 (1.2), 0 (1.0),
// 2 (0.3), 6 (0.0), 8 (-0.5), 4 (-1.0). The cut points used below (top-p 0.8 / 0.9, min-p 0.1 /
// 0.3) sit at least 0.01 in probability away from any cumulative or relative boundary.
const std::vector<float> kLogits = {1.0f, 2.5f, 0.3f, 2.0f, -1.0f, 1.7f, 0.0f, 3.0f, -0.5f, 1.2f};

constexpr int kDraws = 100000;

// Parameters with every filter off, to switch them on one at a time.
SamplingParams plain(float temperature = 1.0f) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 20240611;
    return p;
}

std::vector<double> softmax(const std::vector<double>& x, const std::vector<bool>& kept,
                            double temperature = 1.0) {
    double max = -INFINITY;
    for (std::size_t i = 0; i < x.size(); ++i)
        if (kept[i]) max = std::max(max, x[i]);
    std::vector<double> p(x.size(), 0.0);
    double sum = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i)
        if (kept[i]) sum += p[i] = std::exp((x[i] - max) / temperature);
    for (auto& v : p) v /= sum;
    return p;
}

// The distribution the chain should sample from, worked out from the definitions in double:
// rank by logit, cut by k, then by cumulative probability, then by probability relative to the
// best, then soften or sharpen by temperature.
std::vector<double> expected_distribution(const std::vector<float>& logits_f, const SamplingParams& sp) {
    const std::vector<double> logits(logits_f.begin(), logits_f.end());
    const std::size_t n = logits.size();
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](auto a, auto b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    std::vector<bool> kept(n, true);
    if (sp.top_k > 0)
        for (std::size_t r = static_cast<std::size_t>(sp.top_k); r < n; ++r) kept[order[r]] = false;
    if (sp.top_p < 1.0f) {
        const auto p = softmax(logits, kept);
        double cumulative = 0.0;
        bool reached = false;
        for (auto i : order) {
            if (!kept[i]) continue;
            if (reached) kept[i] = false;
            cumulative += p[i];
            reached = reached || cumulative >= sp.top_p;
        }
    }
    if (sp.min_p > 0.0f) {
        const auto p = softmax(logits, kept);
        const double best = *std::max_element(p.begin(), p.end());
        for (std::size_t i = 0; i < n; ++i)
            if (kept[i] && p[i] < sp.min_p * best) kept[i] = false;
    }
    return softmax(logits, kept, sp.temperature);
}

std::vector<std::uint64_t> draw_counts(const SamplingParams& sp, const std::vector<float>& logits,
                                       int draws = kDraws) {
    Sampler sampler(sp, logits.size());
    std::vector<std::uint64_t> counts(logits.size(), 0);
    for (int i = 0; i < draws; ++i) ++counts.at(static_cast<std::size_t>(sampler.sample(logits)));
    return counts;
}

void check_fits(const SamplingParams& sp, const std::vector<double>& expected) {
    const auto counts = draw_counts(sp, kLogits);
    const auto r = chi_square(counts, expected);
    INFO("chi-square " << r.statistic << " with " << r.df << " df, critical " << r.critical);
    CHECK(r.impossible == 0);  // filtered-out tokens are never drawn
    if (r.df > 0) CHECK(r.statistic < r.critical);  // df 0: one token left, fully covered above
}

std::size_t kept_count(const std::vector<double>& p) {
    return static_cast<std::size_t>(std::count_if(p.begin(), p.end(), [](double v) { return v > 0.0; }));
}

}  // namespace

TEST_CASE("chi-square critical values agree with published tables", "[sampling][stats]") {
    // Standard table values at p = 0.001 (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.4).
    CHECK(std::abs(greta::test::chi_square_critical(1) - 10.828) < 1e-3);
    CHECK(std::abs(greta::test::chi_square_critical(2) - 13.816) < 1e-3);
    CHECK(std::abs(greta::test::chi_square_critical(5) - 20.515) < 1e-3);
    CHECK(std::abs(greta::test::chi_square_critical(9) - 27.877) < 1e-3);
    CHECK(std::abs(greta::test::chi_square_critical(100) - 149.449) < 1e-2);
}

TEST_CASE("greedy picks the argmax, lowest id on ties, without using the RNG", "[sampling][greedy]") {
    Sampler a(plain(0.0f), kLogits.size());
    CHECK(a.sample(kLogits) == 7);
    const std::vector<float> tied = {0.5f, 2.0f, -1.0f, 2.0f, 2.0f};
    Sampler b(plain(0.0f), tied.size());
    for (int i = 0; i < 10; ++i) CHECK(b.sample(tied) == 1);
    const std::vector<float> with_inf = {-INFINITY, -3.0f, -INFINITY};
    Sampler c(plain(0.0f), with_inf.size());
    CHECK(c.sample(with_inf) == 1);
    CHECK(greta::sampling::argmax(tied) == 1);
}

TEST_CASE("plain sampling follows softmax of the logits", "[sampling][stats]") {
    const auto sp = plain();
    const auto expected = expected_distribution(kLogits, sp);
    CHECK(kept_count(expected) == 10);
    check_fits(sp, expected);
}

TEST_CASE("top-k keeps the k best tokens, renormalized", "[sampling][stats][top_k]") {
    auto sp = plain();
    sp.top_k = GENERATE(1, 2, 4, 9);
    const auto expected = expected_distribution(kLogits, sp);
    CHECK(kept_count(expected) == static_cast<std::size_t>(sp.top_k));
    CAPTURE(sp.top_k);
    check_fits(sp, expected);
}

TEST_CASE("top-p keeps the smallest nucleus reaching p", "[sampling][stats][top_p]") {
    auto sp = plain();
    const auto [p, expected_kept] = GENERATE(std::pair{0.8f, 4u}, std::pair{0.9f, 6u}, std::pair{0.2f, 1u});
    sp.top_p = p;
    const auto expected = expected_distribution(kLogits, sp);
    CHECK(kept_count(expected) == expected_kept);
    CAPTURE(p);
    check_fits(sp, expected);
}

TEST_CASE("min-p keeps tokens within a factor of the best", "[sampling][stats][min_p]") {
    auto sp = plain();
    const auto [p, expected_kept] = GENERATE(std::pair{0.1f, 6u}, std::pair{0.3f, 3u}, std::pair{1.0f, 1u});
    sp.min_p = p;
    const auto expected = expected_distribution(kLogits, sp);
    CHECK(kept_count(expected) == expected_kept);
    CAPTURE(p);
    check_fits(sp, expected);
}

TEST_CASE("temperature sharpens and flattens the distribution", "[sampling][stats][temperature]") {
    const float t = GENERATE(0.5f, 2.0f);
    CAPTURE(t);
    const auto sp = plain(t);
    const auto expected = expected_distribution(kLogits, sp);
    check_fits(sp, expected);
    // The same draws are far from the untempered softmax: the test can tell temperatures apart.
    const auto counts = draw_counts(sp, kLogits);
    const auto untempered = chi_square(counts, expected_distribution(kLogits, plain(1.0f)));
    CHECK(untempered.statistic > 10 * untempered.critical);
}

TEST_CASE("the full chain applies top-k, top-p, min-p, then temperature", "[sampling][stats]") {
    auto sp = plain(0.7f);
    sp.top_k = 6;      // {7, 1, 3, 5, 9, 0}
    sp.top_p = 0.85f;  // renormalized over those six: {7, 1, 3, 5} reach 0.882
    sp.min_p = 0.3f;   // 5 has 0.27 of token 7's probability: {7, 1, 3}
    const auto expected = expected_distribution(kLogits, sp);
    CHECK(kept_count(expected) == 3);
    CHECK(expected[5] == 0.0);
    check_fits(sp, expected);
}

TEST_CASE("filters on a large vocabulary keep exactly the expected set", "[sampling][filters]") {
    // 5000 tokens with a slowly varying, scrambled landscape: the nucleus at p = 0.9 holds
    // thousands of tokens, so top_p must widen its sorted prefix many times.
    const std::size_t n = 5000;
    std::vector<float> logits(n);
    for (std::size_t i = 0; i < n; ++i) logits[i] = static_cast<float>((i * 7919) % n) * 1e-3f;
    std::vector<double> as_double(logits.begin(), logits.end());

    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](auto a, auto b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });

    SECTION("top-k") {
        greta::sampling::Candidates c;
        c.assign(logits);
        greta::sampling::top_k(c, 100);
        REQUIRE(c.size() == 100);
        for (std::size_t r = 0; r < 100; ++r) CHECK(c.items()[r].id == static_cast<std::int32_t>(order[r]));
    }
    SECTION("top-p") {
        greta::sampling::Candidates c;
        c.assign(logits);
        greta::sampling::top_p(c, 0.9f);
        const auto p = softmax(as_double, std::vector<bool>(n, true));
        std::set<std::int32_t> nucleus;
        double cumulative = 0.0;
        for (auto i : order) {
            nucleus.insert(static_cast<std::int32_t>(i));
            cumulative += p[i];
            if (cumulative >= 0.9) break;
        }
        REQUIRE(nucleus.size() > 1000);
        std::set<std::int32_t> got;
        for (const auto& cand : c.items()) got.insert(cand.id);
        CHECK(got == nucleus);
    }
    SECTION("min-p") {
        greta::sampling::Candidates c;
        c.assign(logits);
        greta::sampling::min_p(c, 0.05f);
        // exp(l - max) >= 0.05  <=>  l >= max + ln(0.05) ~ max - 2.9957; max is 4.999
        std::set<std::int32_t> expected;
        for (std::size_t i = 0; i < n; ++i)
            if (as_double[i] >= 4.999 + std::log(0.05) + 1e-7) expected.insert(static_cast<std::int32_t>(i));
        std::set<std::int32_t> got;
        for (const auto& cand : c.items()) got.insert(cand.id);
        CHECK(got == expected);
    }
}

TEST_CASE("top-p agrees with the sorted definition on flat and peaked vocabularies", "[sampling][filters]") {
    // Both code paths: the nucleus found among the best 64 (peaked) and the bucketed one
    // (flat). Logits are rounded to a coarse grid so that many are equal.
    std::uint32_t state = 777;
    for (const float spread : {0.5f, 3.0f, 12.0f, 40.0f, 1000.0f, 5000.0f}) {
        for (const float p : {0.3f, 0.75f, 0.95f}) {
            const std::size_t n = 32000;
            std::vector<float> logits(n);
            for (auto& l : logits) {
                state = state * 1664525u + 1013904223u;
                l = std::round(static_cast<float>(state >> 8) * 0x1.0p-24f * spread * 64.0f) / 64.0f;
            }
            std::vector<std::size_t> order(n);
            std::iota(order.begin(), order.end(), 0);
            std::sort(order.begin(), order.end(), [&](auto a, auto b) {
                return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
            });
            const double max = logits[order[0]];
            double total = 0.0;
            for (float l : logits) total += std::exp(l - max);
            std::vector<std::int32_t> expected;
            double cumulative = 0.0;
            for (auto i : order) {
                expected.push_back(static_cast<std::int32_t>(i));
                cumulative += std::exp(logits[i] - max) / total;
                if (cumulative >= p) break;
            }
            greta::sampling::Candidates c;
            c.assign(logits);
            greta::sampling::top_p(c, p);
            std::vector<std::int32_t> got;
            for (const auto& cand : c.items()) got.push_back(cand.id);
            CAPTURE(spread, p, expected.size(), got.size());
            CHECK(got == expected);  // same tokens, best first
        }
    }
}

TEST_CASE("top-k ranks equal logits by lower id", "[sampling][filters]") {
    const std::vector<float> logits = {1.0f, 3.0f, 3.0f, 0.0f, 3.0f, 3.0f};
    greta::sampling::Candidates c;
    c.assign(logits);
    greta::sampling::top_k(c, 3);
    REQUIRE(c.size() == 3);
    CHECK(c.items()[0].id == 1);
    CHECK(c.items()[1].id == 2);
    CHECK(c.items()[2].id == 4);
}

TEST_CASE("penalties change logits as defined", "[sampling][penalties]") {
    const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 0.0f, 4.0f, -3.0f};
    const std::vector<std::int32_t> window = {1, 4, 1, 2, 1, 5};
    const float repeat = 1.5f, presence = 0.25f, frequency = 0.1f;

    // Expected from the definition: each distinct token of the window, with c occurrences,
    // has its logit divided (if positive) or multiplied (otherwise) by repeat, then loses
    // c * frequency + presence. Tokens outside the window are unchanged.
    std::map<std::int32_t, int> occurrences;
    for (auto t : window) ++occurrences[t];
    std::vector<double> expected(logits.begin(), logits.end());
    for (auto [token, c] : occurrences) {
        double& l = expected[static_cast<std::size_t>(token)];
        l = l > 0 ? l / repeat : l * repeat;
        l -= c * frequency + presence;
    }

    std::vector<float> got = logits;
    std::vector<std::int32_t> scratch = window;
    greta::sampling::apply_penalties(got, scratch, repeat, presence, frequency);
    for (std::size_t i = 0; i < logits.size(); ++i) {
        CAPTURE(i);
        CHECK(std::abs(got[i] - expected[i]) < 1e-6);
    }
    CHECK(got[0] == logits[0]);
    CHECK(got[3] == logits[3]);

    std::vector<std::int32_t> bad = {6};
    CHECK_THROWS_AS(greta::sampling::apply_penalties(got, bad, repeat, presence, frequency), greta::Error);
}

TEST_CASE("penalties apply only over the last penalty_last_n accepted tokens", "[sampling][penalties]") {
    const std::vector<float> logits = {3.0f, 2.0f, 1.0f, 0.5f};
    auto sp = plain(0.0f);
    sp.repeat_penalty = 2.0f;  // 3.0 -> 1.5 when penalized: token 1 (2.0) wins
    sp.penalty_last_n = 2;
    Sampler s(sp, logits.size());
    CHECK(s.sample(logits) == 0);
    s.accept(0);
    CHECK(s.sample(logits) == 1);
    s.accept(2);
    CHECK(s.sample(logits) == 1);  // window {0, 2}
    s.accept(3);
    CHECK(s.sample(logits) == 0);  // window {2, 3}: token 0 dropped out
    s.accept(0);
    s.accept(1);                   // window {0, 1}: 1.5 and 1.0 -> token 0 still best
    CHECK(s.sample(logits) == 0);
    s.reset();
    CHECK(s.sample(logits) == 0);

    auto presence = plain(0.0f);
    presence.presence_penalty = 0.6f;
    presence.frequency_penalty = 0.3f;  // token 0 after two uses: 3.0 - 0.6 - 0.6 = 1.8 < 2.0
    Sampler p(presence, logits.size());
    p.accept(0);
    CHECK(p.sample(logits) == 0);  // 3.0 - 0.9 = 2.1 > 2.0
    p.accept(0);
    CHECK(p.sample(logits) == 1);
}

TEST_CASE("penalized sampling follows softmax of the penalized logits", "[sampling][stats][penalties]") {
    auto sp = plain();
    sp.repeat_penalty = 1.3f;
    sp.frequency_penalty = 0.2f;
    Sampler s(sp, kLogits.size());
    for (std::int32_t t : {7, 7, 4, 1}) s.accept(t);
    std::vector<float> penalized = kLogits;
    penalized[7] = 3.0f / 1.3f - 2 * 0.2f;
    penalized[4] = -1.0f * 1.3f - 0.2f;
    penalized[1] = 2.5f / 1.3f - 0.2f;
    const auto expected = expected_distribution(penalized, plain());
    std::vector<std::uint64_t> counts(kLogits.size(), 0);
    for (int i = 0; i < kDraws; ++i) ++counts[static_cast<std::size_t>(s.sample(kLogits))];
    const auto r = chi_square(counts, expected);
    INFO("chi-square " << r.statistic << " critical " << r.critical);
    CHECK(r.statistic < r.critical);
}

TEST_CASE("same seed and inputs give the same tokens; other seeds differ", "[sampling][determinism]") {
    // Logits that change every step (a small LCG) and tokens fed back, as in generation.
    auto run = [](std::uint64_t seed) {
        SamplingParams sp;  // defaults: every filter active
        sp.seed = seed;
        sp.repeat_penalty = 1.1f;
        const std::size_t vocab = 300;
        Sampler s(sp, vocab);
        std::vector<float> logits(vocab);
        std::uint32_t state = 12345;
        std::vector<std::int32_t> tokens;
        for (int step = 0; step < 500; ++step) {
            for (auto& l : logits) {
                state = state * 1664525u + 1013904223u;
                l = static_cast<float>(state >> 8) * 0x1.0p-24f * 4.0f;
            }
            const auto t = s.sample(logits);
            s.accept(t);
            tokens.push_back(t);
        }
        return tokens;
    };
    const auto a = run(7), b = run(7), c = run(8);
    CHECK(a == b);
    CHECK(a != c);
    CHECK(std::set<std::int32_t>(a.begin(), a.end()).size() > 50);  // really sampling
}

TEST_CASE("reset restarts the RNG and forgets accepted tokens", "[sampling][determinism]") {
    auto sp = plain();
    sp.presence_penalty = 1.0f;
    Sampler s(sp, kLogits.size());
    std::vector<std::int32_t> first, second;
    for (int i = 0; i < 200; ++i) {
        first.push_back(s.sample(kLogits));
        s.accept(first.back());
    }
    s.reset();
    for (int i = 0; i < 200; ++i) {
        second.push_back(s.sample(kLogits));
        s.accept(second.back());
    }
    CHECK(first == second);
}

TEST_CASE("sampler rejects bad input with one-line errors", "[sampling][errors]") {
    using Catch::Matchers::ContainsSubstring;
    Sampler s(plain(), 4);
    const std::vector<float> three = {1.0f, 2.0f, 3.0f};
    CHECK_THROWS_WITH(s.sample(three), ContainsSubstring("3 logits") && ContainsSubstring("4"));
    CHECK_THROWS_WITH(s.accept(4), ContainsSubstring("token 4"));
    CHECK_THROWS_WITH(s.accept(-1), ContainsSubstring("token -1"));
    const std::vector<float> nan = {1.0f, NAN, 0.0f, 0.0f};
    CHECK_THROWS_WITH(s.sample(nan), ContainsSubstring("token 1") && ContainsSubstring("NaN"));
    const std::vector<float> none = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    CHECK_THROWS_AS(s.sample(none), greta::Error);
    CHECK_THROWS_AS(Sampler(plain(), 0), greta::Error);
    auto bad = plain();
    bad.top_p = 0.0f;
    CHECK_THROWS_WITH(Sampler(bad, 4), ContainsSubstring("top_p"));
}
