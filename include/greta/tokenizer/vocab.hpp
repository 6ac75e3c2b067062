#pragma once
/// @file Vocab: the pieces, scores and token types of a SentencePiece-BPE vocabulary, plus the
/// few flags that change how text is segmented. Loaded from a GGUF or a SentencePiece .model.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <greta/core/error.hpp>

namespace greta::tokenizer {

/// Token types, numbered as SentencePiece (and GGUF's tokenizer.ggml.token_type) number them.
enum class TokenType : std::int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

/// A vocabulary. Index = token id. Special ids may be -1 when the vocabulary has no such token.
struct Vocab {
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<TokenType> types;
    std::int32_t bos = 1, eos = 2, unk = 0;
    bool add_bos = true;            ///< the model expects BOS before a prompt
    bool add_space_prefix = true;   ///< SentencePiece's add_dummy_prefix: "▁" before the text
    /// SentencePiece's remove_extra_whitespaces: drop leading/trailing spaces, collapse runs.
    /// A .model file may set it (its default is on); GGUF vocabularies never do.
    bool remove_extra_whitespaces = false;
};

/// U+2581 LOWER ONE EIGHTH BLOCK: SentencePiece's stand-in for a space inside pieces.
inline constexpr std::string_view space_symbol = "\xE2\x96\x81";

/// True for the type ids GGUF and SentencePiece define (1..6).
constexpr bool is_valid_token_type(std::int64_t t) { return t >= 1 && t <= 6; }

constexpr std::string_view token_type_name(TokenType t) {
    switch (t) {
        case TokenType::Normal: return "normal";
        case TokenType::Unknown: return "unknown";
        case TokenType::Control: return "control";
        case TokenType::UserDefined: return "user-defined";
        case TokenType::Unused: return "unused";
        case TokenType::Byte: return "byte";
    }
    return "invalid";
}

/// The byte a byte-fallback piece "<0xNN>" stands for, or nothing if `piece` is not of that form.
inline std::optional<std::uint8_t> parse_byte_piece(std::string_view piece) {
    if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return std::nullopt;
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    const int hi = hex(piece[3]), lo = hex(piece[4]);
    if (hi < 0 || lo < 0) return std::nullopt;
    return static_cast<std::uint8_t>(hi * 16 + lo);
}

/// Throws greta::Error (prefixed with `source`, the file it came from) unless the vocabulary is
/// consistent: equal table lengths, special ids in range, byte pieces parseable.
inline void validate_vocab(const Vocab& v, const std::string& source) {
    const ErrorContext ctx{source, std::nullopt, {}};
    check(!v.tokens.empty(), [] { return std::string("vocabulary is empty"); }, ctx);
    check(v.scores.size() == v.tokens.size() && v.types.size() == v.tokens.size(), [&] {
        return "vocabulary tables disagree: " + std::to_string(v.tokens.size()) + " tokens, " +
               std::to_string(v.scores.size()) + " scores, " + std::to_string(v.types.size()) + " types";
    }, ctx);
    const auto n = static_cast<std::int64_t>(v.tokens.size());
    auto check_special = [&](std::int32_t id, const char* what) {
        check(id >= -1 && id < n, [&] {
            return std::string(what) + " token id " + std::to_string(id) + " is outside the vocabulary of " +
                   std::to_string(n);
        }, ctx);
    };
    check_special(v.bos, "BOS");
    check_special(v.eos, "EOS");
    check_special(v.unk, "unknown");
    for (std::size_t i = 0; i < v.tokens.size(); ++i) {
        const auto t = static_cast<std::int32_t>(v.types[i]);
        check(is_valid_token_type(t), [&] {
            return "token " + std::to_string(i) + " has invalid type " + std::to_string(t);
        }, ctx);
        if (v.types[i] == TokenType::Byte)
            check(parse_byte_piece(v.tokens[i]).has_value(), [&] {
                return "byte token " + std::to_string(i) + " is not of the form <0xNN>: '" + v.tokens[i] + "'";
            }, ctx);
    }
}

}  // namespace greta::tokenizer
