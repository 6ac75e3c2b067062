// UTF-8 well-formedness and the byte assembler, against an encoder written here from the bit layout.
#include <catch2/catch_test_macros.hpp>

#include <cstdint>
#include <random>
#include <string>

#include <greta/tokenizer/utf8.hpp>

using namespace greta::tokenizer;

namespace {
std::string encode_code_point(std::uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
        s += static_cast<char>(cp);
    } else if (cp < 0x800) {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        s += static_cast<char>(0xE0 | (cp >> 12));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        s += static_cast<char>(0xF0 | (cp >> 18));
        s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
}

/// Decodes by the bit layout and checks the code point is in range for its length (no overlong
/// form, no surrogate, at most U+10FFFF): a second, independent definition of well-formedness.
bool decodes_to_valid_scalar(const std::string& s) {
    const auto b0 = static_cast<std::uint8_t>(s[0]);
    std::size_t n = b0 < 0x80 ? 1 : (b0 >> 5) == 6 ? 2 : (b0 >> 4) == 14 ? 3 : (b0 >> 3) == 30 ? 4 : 0;
    if (n == 0 || s.size() != n) return false;
    std::uint32_t cp = n == 1 ? b0 : n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
    for (std::size_t i = 1; i < n; ++i) {
        const auto b = static_cast<std::uint8_t>(s[i]);
        if ((b >> 6) != 2) return false;
        cp = (cp << 6) | (b & 0x3F);
    }
    const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    return cp >= min[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
}
}  // namespace

TEST_CASE("utf8_char_length accepts every scalar value with its encoded length", "[tokenizer][utf8]") {
    for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        const std::string s = encode_code_point(cp);
        if (utf8_char_length(s) != s.size()) FAIL("code point " << cp);
        if (!s.empty() && s.size() > 1 && !utf8_is_incomplete_prefix(s.substr(0, s.size() - 1))) FAIL("prefix of " << cp);
    }
}

TEST_CASE("utf8_char_length agrees with decoding on all 1-3 byte sequences and sampled 4-byte ones", "[tokenizer][utf8]") {
    for (unsigned a = 0; a < 256; ++a) {
        const std::string s1(1, static_cast<char>(a));
        CHECK((utf8_char_length(s1) == 1) == decodes_to_valid_scalar(s1));
        for (unsigned b = 0; b < 256; ++b) {
            const std::string s2 = s1 + static_cast<char>(b);
            if ((utf8_char_length(s2) == 2) != decodes_to_valid_scalar(s2)) FAIL("bytes " << a << " " << b);
            for (unsigned c = 0x70; c < 0xD0; ++c) {  // every continuation byte and neighbours
                const std::string s3 = s2 + static_cast<char>(c);
                if ((utf8_char_length(s3) == 3) != decodes_to_valid_scalar(s3)) FAIL("bytes " << a << " " << b << " " << c);
            }
        }
    }
    std::mt19937 rng(7);
    for (int i = 0; i < 200000; ++i) {
        std::string s4;
        s4 += static_cast<char>(0xE8 + rng() % 24);  // F0..FF and some below
        for (int k = 0; k < 3; ++k) s4 += static_cast<char>(0x70 + rng() % 0x60);
        if ((utf8_char_length(s4) == 4) != decodes_to_valid_scalar(s4)) FAIL("4-byte sequence " << i);
    }
}

TEST_CASE("known malformed sequences are rejected", "[tokenizer][utf8]") {
    for (const char* bad : {"\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xE0\x9F\xBF", "\xED\xA0\x80", "\xED\xBF\xBF",
                            "\xF0\x80\x80\x80", "\xF0\x8F\xBF\xBF", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF",
                            "\x80", "\xBF"}) {
        CHECK(utf8_char_length(bad) == 0);
        CHECK_FALSE(is_valid_utf8(bad));
    }
    CHECK(utf8_is_incomplete_prefix("\xF0\x9F\x9A"));
    CHECK_FALSE(utf8_is_incomplete_prefix("\xF0\x8F"));  // could only become an overlong form
    CHECK_FALSE(utf8_is_incomplete_prefix("\xED\xA0"));  // could only become a surrogate
    CHECK(utf8_char_length("\xF0\x9F\x9A") == 0);        // truncated
}

TEST_CASE("Utf8Assembler emits whole characters and U+FFFD per invalid byte", "[tokenizer][utf8]") {
    const std::string rocket = "\xF0\x9F\x9A\x80";
    Utf8Assembler a;
    std::string out;
    for (int i = 0; i < 3; ++i) {
        a.push_byte(static_cast<std::uint8_t>(rocket[static_cast<std::size_t>(i)]), out);
        CHECK(out.empty());
    }
    a.push_byte(static_cast<std::uint8_t>(rocket[3]), out);
    CHECK(out == rocket);

    const std::string fffd(replacement_character);
    out.clear();
    a.push_byte(0xE2, out);
    a.push_byte(0x82, out);
    a.push_byte('A', out);  // breaks the sequence: one U+FFFD for each of E2 and 82
    CHECK(out == fffd + fffd + "A");

    out.clear();
    a.push_byte(0xF0, out);
    a.push_byte(0x9F, out);
    a.push_text(" x", out);  // a whole piece: the pending bytes can never complete
    CHECK(out == fffd + fffd + " x");

    out.clear();
    a.push_byte(0xE4, out);
    a.flush(out);
    CHECK(out == fffd);
    CHECK(a.pending() == 0);

    out.clear();
    a.push_text("ok\xFFok\xE2\x82", out);  // text is sanitized as a whole
    CHECK(out == "ok" + fffd + "ok" + fffd + fffd);
}

TEST_CASE("Utf8Assembler output is valid UTF-8 for random bytes and matches per-byte replacement", "[tokenizer][utf8]") {
    std::mt19937 rng(11);
    for (int trial = 0; trial < 2000; ++trial) {
        std::string bytes;
        const int n = static_cast<int>(rng() % 24);
        for (int i = 0; i < n; ++i) {
            // Mostly well-formed characters, sometimes a lone random byte.
            if (rng() % 4 == 0) bytes += static_cast<char>(rng() % 256);
            else bytes += encode_code_point(static_cast<std::uint32_t>(rng() % 0x10000 < 0xD800 ? rng() % 0xD800 : 0x1F600 + rng() % 64));
        }
        Utf8Assembler a;
        std::string out;
        for (char c : bytes) {
            const auto before = out.size();
            a.push_byte(static_cast<std::uint8_t>(c), out);
            REQUIRE(is_valid_utf8(std::string_view(out).substr(before)));
        }
        a.flush(out);
        std::string expected;
        append_sanitized_utf8(expected, bytes);  // the same stream seen all at once
        REQUIRE(out == expected);
        REQUIRE(is_valid_utf8(out));
    }
}
