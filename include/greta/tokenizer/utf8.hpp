#pragma once
/// @file UTF-8 well-formedness (Unicode table 3-7) and Utf8Assembler, which turns a stream of text
/// pieces and raw byte tokens into text that is always valid UTF-8.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace greta::tokenizer {

/// U+FFFD REPLACEMENT CHARACTER, emitted for each byte that cannot be part of a valid character.
inline constexpr std::string_view replacement_character = "\xEF\xBF\xBD";

namespace detail {

/// Bytes a character starting with `lead` needs (0: not a lead byte) and the range its second byte
/// must fall in. The narrow second-byte ranges reject overlong forms, surrogates and > U+10FFFF.
struct Utf8Lead {
    std::uint8_t length, second_min, second_max;
};

constexpr Utf8Lead utf8_lead(std::uint8_t lead) {
    if (lead < 0x80) return {1, 0, 0};
    if (lead < 0xC2) return {0, 0, 0};  // continuation byte, or C0/C1 (always overlong)
    if (lead < 0xE0) return {2, 0x80, 0xBF};
    if (lead == 0xE0) return {3, 0xA0, 0xBF};
    if (lead == 0xED) return {3, 0x80, 0x9F};
    if (lead < 0xF0) return {3, 0x80, 0xBF};
    if (lead == 0xF0) return {4, 0x90, 0xBF};
    if (lead < 0xF4) return {4, 0x80, 0xBF};
    if (lead == 0xF4) return {4, 0x80, 0x8F};
    return {0, 0, 0};
}

/// How many leading bytes of s (at most the character's length) fit a well-formed character.
constexpr std::size_t utf8_matching_prefix(std::string_view s, Utf8Lead lead) {
    std::size_t n = 1;
    for (; n < lead.length && n < s.size(); ++n) {
        const auto b = static_cast<std::uint8_t>(s[n]);
        const bool ok = n == 1 ? (b >= lead.second_min && b <= lead.second_max) : (b >= 0x80 && b <= 0xBF);
        if (!ok) break;
    }
    return n;
}

}  // namespace detail

/// Length (1..4) of the well-formed UTF-8 character at the start of s; 0 if s is empty, starts
/// with an invalid byte, or ends before the character does.
constexpr std::size_t utf8_char_length(std::string_view s) {
    if (s.empty()) return 0;
    const auto lead = detail::utf8_lead(static_cast<std::uint8_t>(s[0]));
    if (lead.length == 0 || s.size() < lead.length) return 0;
    return detail::utf8_matching_prefix(s, lead) == lead.length ? lead.length : 0;
}

/// True when s is a proper prefix of some well-formed character: more bytes could complete it.
constexpr bool utf8_is_incomplete_prefix(std::string_view s) {
    if (s.empty()) return false;
    const auto lead = detail::utf8_lead(static_cast<std::uint8_t>(s[0]));
    return s.size() < lead.length && detail::utf8_matching_prefix(s, lead) == s.size();
}

/// True when all of s is well-formed UTF-8.
constexpr bool is_valid_utf8(std::string_view s) {
    while (!s.empty()) {
        const auto n = utf8_char_length(s);
        if (n == 0) return false;
        s.remove_prefix(n);
    }
    return true;
}

/// Appends s to out, each byte that does not start a well-formed character replaced by U+FFFD
/// (one per byte, as SentencePiece's decoder does).
inline void append_sanitized_utf8(std::string& out, std::string_view s) {
    while (!s.empty()) {
        const auto n = utf8_char_length(s);
        if (n == 0) {
            out += replacement_character;
            s.remove_prefix(1);
        } else {
            out.append(s.substr(0, n));
            s.remove_prefix(n);
        }
    }
}

/// Assembles decoded output from whole text pieces and single raw bytes (byte-fallback tokens).
/// Only bytes may be held back, and only while they are a prefix that more bytes could complete;
/// everything appended to `out` is valid UTF-8.
class Utf8Assembler {
public:
    /// One raw byte. Appends whatever characters it completes (or U+FFFD for bytes it proves invalid).
    void push_byte(std::uint8_t b, std::string& out) {
        pending_[pending_size_++] = static_cast<char>(b);
        while (pending_size_ > 0) {
            const std::string_view p(pending_, pending_size_);
            std::size_t consumed = utf8_char_length(p);
            if (consumed > 0) {
                out.append(p.substr(0, consumed));
            } else if (utf8_is_incomplete_prefix(p)) {
                return;  // wait for the rest of the character
            } else {
                out += replacement_character;  // the first byte cannot start a character
                consumed = 1;
            }
            for (std::size_t i = consumed; i < pending_size_; ++i) pending_[i - consumed] = pending_[i];
            pending_size_ -= consumed;
        }
    }

    /// A whole piece of text. Pending bytes cannot continue into it (pieces start at character
    /// boundaries), so they are flushed first.
    void push_text(std::string_view text, std::string& out) {
        flush(out);
        append_sanitized_utf8(out, text);
    }

    /// Ends the stream: each byte still pending becomes U+FFFD.
    void flush(std::string& out) {
        for (std::size_t i = 0; i < pending_size_; ++i) out += replacement_character;
        pending_size_ = 0;
    }

    std::size_t pending() const { return pending_size_; }

private:
    char pending_[4] = {};
    std::size_t pending_size_ = 0;
};

}  // namespace greta::tokenizer
