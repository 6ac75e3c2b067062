#pragma once
/// @file Seeded random numbers for sampling: xoshiro256** seeded through SplitMix64.
///
/// Written out here rather than taken from <random> because std::uniform_real_distribution
/// and the seeding of std::mt19937 through seed_seq produce implementation-defined values:
/// a seed must give the same tokens with every compiler and standard library.

#include <cstdint>
#include <limits>

namespace greta::sampling {

/// One step of SplitMix64 (Steele, Lea, Flood 2014): advances `state` and returns the next
/// output. Used only to spread a 64-bit seed over xoshiro's 256-bit state.
constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
    state += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/// xoshiro256** 1.0 (Blackman, Vigna 2018). Small, fast, and fully specified by the paper, so
/// a seed gives the same stream everywhere. Satisfies std::uniform_random_bit_generator.
class Rng {
public:
    using result_type = std::uint64_t;

    /// Seeds the state with four successive SplitMix64 outputs of `seed`. SplitMix64 is a
    /// bijection of its counter, so the four words are distinct and never all zero.
    explicit constexpr Rng(std::uint64_t seed) noexcept { reseed(seed); }

    /// A generator with exactly this state (not all zero), e.g. to check published test vectors.
    static constexpr Rng from_state(std::uint64_t s0, std::uint64_t s1, std::uint64_t s2,
                                    std::uint64_t s3) noexcept {
        Rng r(0);
        r.s_[0] = s0;
        r.s_[1] = s1;
        r.s_[2] = s2;
        r.s_[3] = s3;
        return r;
    }

    /// Restarts the stream as if freshly constructed with `seed`.
    constexpr void reseed(std::uint64_t seed) noexcept {
        std::uint64_t sm = seed;
        for (auto& word : s_) word = splitmix64(sm);
    }

    /// Next 64 random bits.
    constexpr std::uint64_t next_u64() noexcept {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    /// Uniform float in [0, 1): the top 24 bits (a float's full significand) times 2^-24,
    /// so every value is exact and 1.0 can never come out.
    constexpr float uniform_float() noexcept {
        return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f;
    }

    constexpr result_type operator()() noexcept { return next_u64(); }
    static constexpr result_type min() noexcept { return 0; }
    static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

private:
    static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
        return (x << k) | (x >> (64 - k));
    }
    std::uint64_t s_[4]{};
};

}  // namespace greta::sampling
