#pragma once
// Pearson's chi-square goodness-of-fit, with the critical value computed from the chi-square
// distribution itself (closed forms for integer degrees of freedom) rather than a table.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <stdexcept>
#include <vector>

namespace greta::test {

/// P(X > x) for X ~ chi-square with integer df >= 1. Closed forms (Abramowitz & Stegun 26.4.4/5):
///   even df = 2m:    Q = e^{-x/2} * sum_{j=0}^{m-1} (x/2)^j / j!
///   odd  df = 2m+1:  Q = erfc(sqrt(x/2)) + e^{-x/2} * sum_{j=1}^{m} (x/2)^{j-1/2} / Gamma(j+1/2)
/// Terms are formed in log space so large df does not overflow.
inline double chi_square_survival(double x, int df) {
    if (x <= 0.0) return 1.0;
    const double h = x / 2.0;
    double q = 0.0;
    if (df % 2 == 0) {
        for (int j = 0; j < df / 2; ++j) q += std::exp(j * std::log(h) - std::lgamma(j + 1.0) - h);
    } else {
        q = std::erfc(std::sqrt(h));
        for (int j = 1; j <= df / 2; ++j) q += std::exp((j - 0.5) * std::log(h) - std::lgamma(j + 0.5) - h);
    }
    return q;
}

/// The x with P(X > x) = alpha, by bisection on the (decreasing) survival function.
inline double chi_square_critical(int df, double alpha = 0.001) {
    double lo = 0.0, hi = 10.0 * df + 100.0;
    for (int i = 0; i < 200; ++i) {
        const double mid = 0.5 * (lo + hi);
        (chi_square_survival(mid, df) > alpha ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
}

struct ChiSquareResult {
    double statistic = 0.0;
    int df = 0;
    double critical = 0.0;          // at p = 0.001
    std::uint64_t impossible = 0;   // draws of tokens whose expected probability is 0
};

/// Compares observed counts with expected probabilities (which sum to 1). Categories with
/// expected probability 0 do not enter the statistic; their draws are counted in `impossible`.
inline ChiSquareResult chi_square(const std::vector<std::uint64_t>& counts,
                                  const std::vector<double>& expected) {
    if (counts.size() != expected.size()) throw std::invalid_argument("chi_square: size mismatch");
    std::uint64_t total = 0;
    for (auto c : counts) total += c;
    ChiSquareResult r;
    int categories = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        if (expected[i] == 0.0) {
            r.impossible += counts[i];
            continue;
        }
        const double e = expected[i] * static_cast<double>(total);
        const double d = static_cast<double>(counts[i]) - e;
        r.statistic += d * d / e;
        ++categories;
    }
    r.df = categories - 1;
    r.critical = r.df > 0 ? chi_square_critical(r.df) : 0.0;
    return r;
}

}  // namespace greta::test
