#pragma once
// Helpers to compare logits against llama.cpp's fixtures in shared/fixtures/ref.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <span>
#include <string>
#include <vector>

namespace greta::test {

/// Line 1: prompt ids (with BOS); line 2: llama.cpp's greedy continuation.
struct FixtureTokens {
    std::vector<std::int32_t> prompt, generated;
};

inline FixtureTokens read_fixture_tokens(const std::filesystem::path& p) {
    std::ifstream f(p);
    FixtureTokens t;
    std::string line;
    for (auto* dst : {&t.prompt, &t.generated}) {
        std::getline(f, line);
        std::istringstream ss(line);
        for (std::int32_t id; ss >> id;) dst->push_back(id);
    }
    return t;
}

/// Max absolute difference over a row, relative to the reference row's largest magnitude.
/// (Per-element relative error is meaningless for logits that cross zero.)
inline double row_relative_error(std::span<const float> got, std::span<const float> ref) {
    double max_diff = 0, max_ref = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        max_diff = std::max(max_diff, std::abs(double(got[i]) - double(ref[i])));
        max_ref = std::max(max_ref, std::abs(double(ref[i])));
    }
    return max_diff / std::max(max_ref, 1e-30);
}

inline std::size_t argmax(std::span<const float> v) {
    return std::size_t(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace greta::test
