#pragma once
// Helpers shared by the io tests: byte patching, a small valid GGUF to damage, error matching.

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <greta/core/error.hpp>
#include <greta/io/gguf_writer.hpp>

namespace greta::test {

using Bytes = std::vector<std::byte>;

inline Bytes read_file_bytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(f)), {});
    Bytes b(c.size());
    if (!c.empty()) std::memcpy(b.data(), c.data(), c.size());
    return b;
}

inline void write_file_bytes(const std::filesystem::path& p, const Bytes& b) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

/// Offset of the first occurrence of `needle` in `hay` (REQUIREs that there is one).
inline std::size_t find_bytes(const Bytes& hay, std::string_view needle) {
    const auto* h = reinterpret_cast<const char*>(hay.data());
    const auto it = std::search(h, h + hay.size(), needle.begin(), needle.end());
    REQUIRE(it != h + hay.size());
    return static_cast<std::size_t>(it - h);
}

template <class T>
void poke(Bytes& b, std::size_t at, T v) {
    REQUIRE(at + sizeof(T) <= b.size());
    std::memcpy(b.data() + at, &v, sizeof(T));
}

template <class T>
T peek(const Bytes& b, std::size_t at) {
    T v;
    std::memcpy(&v, b.data() + at, sizeof(T));
    return v;
}

inline Bytes f32_bytes(const std::vector<float>& v) {
    Bytes b(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    return b;
}

/// Field offsets of a tensor-info entry, found by its (unique) name in the header.
struct TensorInfoAt {
    std::size_t name_len, n_dims, ne0, type, offset;
};
inline TensorInfoAt tensor_info_at(const Bytes& file, std::string_view name, std::uint32_t n_dims) {
    const std::size_t at = find_bytes(file, name);
    TensorInfoAt t{};
    t.name_len = at - 8;
    t.n_dims = at + name.size();
    t.ne0 = t.n_dims + 4;
    t.type = t.ne0 + 8 * n_dims;
    t.offset = t.type + 4;
    return t;
}

/// A small GGUF exercising what the damage tests break: alignment 64 (so general.alignment is
/// the first key), strings, a numeric array, a string array, and three tensors.
inline greta::io::GgufWriter small_gguf_writer() {
    greta::io::GgufWriter w(64);
    w.add_string("general.architecture", "llama");
    w.add_string("test.string", "hello");
    w.add_array<std::uint32_t>("test.array", std::vector<std::uint32_t>{1, 2, 3, 4});
    w.add_string_array("test.strings", {"a", "bc"});
    w.add_uint32("test.dup1", 1);
    w.add_uint32("test.dup2", 2);
    std::vector<float> a(16);
    for (int i = 0; i < 16; ++i) a[i] = float(i) * 0.5f;
    w.add_tensor("tensor_a", DType::F32, {8, 2}, f32_bytes(a));
    w.add_tensor("tensor_b", DType::F16, {16}, Bytes(32, std::byte{0x3c}));
    w.add_tensor("tensor_c", DType::Q8_0, {32, 2}, Bytes(68, std::byte{1}));
    return w;
}

/// Checks that an error message is one line and contains each of `parts`.
inline void check_error_message(const std::string& what, std::initializer_list<std::string_view> parts) {
    INFO("message: " << what);
    CHECK(what.find('\n') == std::string::npos);
    for (const auto part : parts) CHECK_THAT(what, Catch::Matchers::ContainsSubstring(std::string(part)));
}

}  // namespace greta::test

/// REQUIRE that `expr` throws greta::Error whose one-line message contains each listed string;
/// prints the message either way so failures show what was said.
#define GRETA_REQUIRE_ERROR(expr, ...)                                                               \
    do {                                                                                             \
        bool greta_threw_ = false;                                                                   \
        try {                                                                                        \
            (void)(expr);                                                                            \
        } catch (const greta::Error& greta_e_) {                                                     \
            greta_threw_ = true;                                                                     \
            ::greta::test::check_error_message(greta_e_.what(), {__VA_ARGS__});                      \
        }                                                                                            \
        if (!greta_threw_) FAIL("expected greta::Error from: " #expr);                               \
    } while (0)
