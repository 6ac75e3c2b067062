#pragma once
// Locating ../shared (models and fixtures) from tests. GRETA_SHARED_DIR overrides the default
// of ../shared next to the source tree. Tests skip, with the path in the message, when absent.

#include <catch2/catch_test_macros.hpp>

#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace greta::test {

inline std::filesystem::path shared_dir() {
    if (const char* env = std::getenv("GRETA_SHARED_DIR"); env && *env) return env;
    return std::filesystem::path(GRETA_SOURCE_ROOT) / ".." / "shared";
}

/// Path of a file under shared/, or an empty path if it is absent.
inline std::filesystem::path shared_file(const std::string& relative) {
    auto p = shared_dir() / relative;
    return std::filesystem::exists(p) ? p : std::filesystem::path{};
}

/// A scratch directory unique to this test process.
inline std::filesystem::path scratch_dir() {
    static const std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("greta-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    return dir;
}

inline std::vector<char> read_bytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(f), {});
}

inline void write_bytes(const std::filesystem::path& p, const void* data, std::size_t n) {
    std::ofstream f(p, std::ios::binary);
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}

template <class T>
std::vector<T> read_array(const std::filesystem::path& p) {
    auto bytes = read_bytes(p);
    std::vector<T> out(bytes.size() / sizeof(T));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
    return out;
}

}  // namespace greta::test

/// Declares `var` as the path of shared/REL, or SKIPs the test case saying which file is missing.
#define GRETA_SHARED_OR_SKIP(var, rel)                                                        \
    const std::filesystem::path var = ::greta::test::shared_file(rel);                        \
    if (var.empty()) SKIP("shared file absent: " << (::greta::test::shared_dir() / (rel)).string())
