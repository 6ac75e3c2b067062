#pragma once
/// @file vocab_from_gguf: the SentencePiece vocabulary stored in a GGUF's tokenizer.ggml.* keys.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <greta/core/error.hpp>
#include <greta/io/gguf.hpp>
#include <greta/tokenizer/vocab.hpp>

namespace greta::tokenizer {

namespace detail {
/// A special-token id key: absent -> fallback; -1 (or its u32 form 0xFFFFFFFF, as llama.cpp
/// writes "none") -> -1; otherwise it must name a token.
inline std::int32_t gguf_special_id(const io::GgufFile& f, std::string_view key, std::int32_t fallback, std::size_t n_tokens) {
    const io::GgufValue* v = f.find(key);
    if (!v) return fallback;
    const auto id = v->as_int();
    const ErrorContext ctx{f.path(), f.key_offset(key), std::string(key)};
    check(id.has_value(), [&] { return "special token id is not an integer: " + v->to_string(); }, ctx);
    if (*id == -1 || *id == 0xFFFFFFFF) return -1;
    check(*id >= 0 && static_cast<std::uint64_t>(*id) < n_tokens, [&] {
        return "special token id " + std::to_string(*id) + " is outside the vocabulary of " + std::to_string(n_tokens);
    }, ctx);
    return static_cast<std::int32_t>(*id);
}
}  // namespace detail

/// Reads tokenizer.ggml.{model,tokens,scores,token_type,bos_token_id,eos_token_id,
/// unknown_token_id,add_bos_token,add_space_prefix}. Only the SentencePiece ("llama") tokenizer
/// model is accepted. Throws greta::Error naming the file and key.
inline Vocab vocab_from_gguf(const io::GgufFile& f) {
    const std::string& file = f.path();
    auto ctx = [&](std::string_view key) { return ErrorContext{file, f.key_offset(key), std::string(key)}; };

    const auto model = f.get_string("tokenizer.ggml.model");
    check(model.has_value(), [] { return std::string("GGUF has no tokenizer vocabulary"); }, ctx("tokenizer.ggml.model"));
    check(*model == "llama", [&] {
        return "tokenizer model '" + *model + "' is not supported; GRETA implements SentencePiece BPE ('llama')";
    }, ctx("tokenizer.ggml.model"));

    Vocab v;
    v.tokens = f.get_string_array("tokenizer.ggml.tokens");
    const std::size_t n = v.tokens.size();
    check(n > 0, [] { return std::string("tokenizer has no tokens"); }, ctx("tokenizer.ggml.tokens"));
    check(n <= static_cast<std::size_t>(INT32_MAX), [] { return std::string("too many tokens"); }, ctx("tokenizer.ggml.tokens"));

    v.scores = f.get_float_array("tokenizer.ggml.scores");
    if (v.scores.empty()) v.scores.assign(n, 0.0f);  // llama.cpp's default too
    check(v.scores.size() == n, [&] {
        return "has " + std::to_string(v.scores.size()) + " scores for " + std::to_string(n) + " tokens";
    }, ctx("tokenizer.ggml.scores"));

    const auto types = f.get_int_array("tokenizer.ggml.token_type");
    v.types.assign(n, TokenType::Normal);
    if (!types.empty()) {
        check(types.size() == n, [&] {
            return "has " + std::to_string(types.size()) + " token types for " + std::to_string(n) + " tokens";
        }, ctx("tokenizer.ggml.token_type"));
        for (std::size_t i = 0; i < n; ++i) {
            check(is_valid_token_type(types[i]), [&] {
                return "token " + std::to_string(i) + " has invalid type " + std::to_string(types[i]);
            }, ctx("tokenizer.ggml.token_type"));
            v.types[i] = static_cast<TokenType>(types[i]);
        }
    }

    v.bos = detail::gguf_special_id(f, "tokenizer.ggml.bos_token_id", 1, n);
    v.eos = detail::gguf_special_id(f, "tokenizer.ggml.eos_token_id", 2, n);
    v.unk = detail::gguf_special_id(f, "tokenizer.ggml.unknown_token_id", 0, n);
    if (types.empty()) {
        // Without types, mark what SentencePiece would have: specials and byte pieces.
        for (std::size_t i = 0; i < n; ++i)
            if (parse_byte_piece(v.tokens[i])) v.types[i] = TokenType::Byte;
        if (v.unk >= 0) v.types[static_cast<std::size_t>(v.unk)] = TokenType::Unknown;
        if (v.bos >= 0) v.types[static_cast<std::size_t>(v.bos)] = TokenType::Control;
        if (v.eos >= 0) v.types[static_cast<std::size_t>(v.eos)] = TokenType::Control;
    }
    v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token").value_or(true);
    v.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
    v.remove_extra_whitespaces = false;  // llama.cpp's SentencePiece path never removes whitespace
    validate_vocab(v, file);
    return v;
}

}  // namespace greta::tokenizer
