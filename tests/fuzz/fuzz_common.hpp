#pragma once
// Shared by the libFuzzer harnesses (built by scripts/fuzz.sh with clang++-19
// -fsanitize=fuzzer,address,undefined; not part of the meson build).
//
// Each harness feeds arbitrary bytes to one reader and then to everything downstream of it
// that a program would run on a file that parsed (config, weight binding, tokenizer, one CPU
// forward step). The contract under test: a greta::Error or a result, never a crash, an
// out-of-bounds access, undefined behaviour, a hang, or an allocation out of proportion to the
// input. Any other exception escaping a harness is reported by libFuzzer as a crash.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <greta/core/tensor_view.hpp>

namespace greta::fuzz {

/// Stops the run with a message: libFuzzer saves the input as a crash reproducer.
[[noreturn]] inline void violated(const char* what) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
}

#define GRETA_FUZZ_ASSERT(cond)                        \
    do {                                               \
        if (!(cond)) ::greta::fuzz::violated(#cond);   \
    } while (0)

/// ../shared (or $GRETA_SHARED_DIR): the harnesses that need a vocabulary load it from there.
inline std::filesystem::path shared_dir() {
    if (const char* env = std::getenv("GRETA_SHARED_DIR"); env && *env) return env;
    return std::filesystem::path(GRETA_SOURCE_ROOT) / ".." / "shared";
}

inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::vector<std::byte> to_bytes(const std::uint8_t* data, std::size_t size) {
    const auto* b = reinterpret_cast<const std::byte*>(data);
    return std::vector<std::byte>(b, b + size);
}

/// Reads the first and last byte of every tensor, so AddressSanitizer sees any view that
/// points outside its buffer (the owned input buffer of MappedFile::from_bytes).
inline void touch_tensors(std::span<const TensorView> tensors) {
    unsigned sink = 0;
    for (const auto& t : tensors) {
        if (t.n_bytes == 0) continue;
        GRETA_FUZZ_ASSERT(t.data != nullptr);
        sink += static_cast<unsigned>(t.data[0]) + static_cast<unsigned>(t.data[t.n_bytes - 1]);
    }
    volatile unsigned keep = sink;
    (void)keep;
}

/// Independent UTF-8 validity check (Unicode table 3-7), for decoder output.
inline bool is_valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b0 = static_cast<unsigned char>(s[i]);
        std::size_t n;
        unsigned lo = 0x80, hi = 0xBF;
        if (b0 < 0x80) { ++i; continue; }
        else if (b0 >= 0xC2 && b0 <= 0xDF) n = 2;
        else if (b0 >= 0xE0 && b0 <= 0xEF) { n = 3; if (b0 == 0xE0) lo = 0xA0; if (b0 == 0xED) hi = 0x9F; }
        else if (b0 >= 0xF0 && b0 <= 0xF4) { n = 4; if (b0 == 0xF0) lo = 0x90; if (b0 == 0xF4) hi = 0x8F; }
        else return false;
        if (i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            const unsigned min = k == 1 ? lo : 0x80, max = k == 1 ? hi : 0xBF;
            if (b < min || b > max) return false;
        }
        i += n;
    }
    return true;
}

}  // namespace greta::fuzz
