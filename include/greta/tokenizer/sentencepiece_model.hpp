#pragma once
/// @file Reading (and writing) SentencePiece .model files without libsentencepiece: a ModelProto
/// is a protobuf message of pieces {piece, score, type}, a TrainerSpec and a NormalizerSpec.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include <greta/core/error.hpp>
#include <greta/tokenizer/protobuf.hpp>
#include <greta/tokenizer/vocab.hpp>

namespace greta::tokenizer {

/// Field numbers of sentencepiece_model.proto that GRETA reads or writes.
namespace spm_field {
// ModelProto
inline constexpr std::uint32_t pieces = 1, trainer_spec = 2, normalizer_spec = 3;
// ModelProto.SentencePiece
inline constexpr std::uint32_t piece = 1, score = 2, type = 3;
// TrainerSpec
inline constexpr std::uint32_t model_type = 3, vocab_size = 4, treat_whitespace_as_suffix = 24,
                               byte_fallback = 35, unk_id = 40, bos_id = 41, eos_id = 42, pad_id = 43,
                               unk_surface = 44, unk_piece = 45, bos_piece = 46, eos_piece = 47;
// NormalizerSpec
inline constexpr std::uint32_t name = 1, precompiled_charsmap = 2, add_dummy_prefix = 3,
                               remove_extra_whitespaces = 4, escape_whitespaces = 5;
}  // namespace spm_field

/// TrainerSpec.ModelType values.
enum class SpmModelType : std::int32_t { Unigram = 1, Bpe = 2, Word = 3, Char = 4 };

/// Parses a serialized ModelProto into a Vocab. `source` (a file name) prefixes every error.
/// Accepts only what GRETA's tokenizer implements exactly: BPE, identity normalization.
inline Vocab vocab_from_sentencepiece_bytes(std::string_view bytes, const std::string& source) {
    using protobuf::Field;
    const ErrorContext ctx{source, std::nullopt, {}};
    protobuf::Reader top(bytes, source);

    Vocab v;
    // proto2 defaults, used when a field is absent.
    auto model_type = SpmModelType::Unigram;
    bool treat_whitespace_as_suffix = false, escape_whitespaces = true;
    bool has_trainer_spec = false, has_normalizer_spec = false;
    std::string normalizer_name;
    bool has_charsmap = false;
    v.add_space_prefix = true;
    v.remove_extra_whitespaces = true;
    v.unk = 0, v.bos = 1, v.eos = 2;
    v.add_bos = true;  // SentencePiece has no such flag; Llama models are trained with BOS

    while (!top.done()) {
        const Field f = top.next();
        switch (f.number) {
            case spm_field::pieces: {
                const std::string at = "pieces[" + std::to_string(v.tokens.size()) + "]";
                auto r = top.nested(f);
                bool has_piece = false;
                std::string piece;
                float score = 0.0f;
                auto type = TokenType::Normal;
                while (!r.done()) {
                    const Field g = r.next();
                    if (g.number == spm_field::piece) {
                        piece = std::string(r.as_bytes(g, at + ".piece"));
                        has_piece = true;
                    } else if (g.number == spm_field::score) {
                        score = r.as_float(g, at + ".score");
                    } else if (g.number == spm_field::type) {
                        const auto t = r.as_int32(g, at + ".type");
                        if (!is_valid_token_type(t)) r.fail(at + ".type has invalid value " + std::to_string(t), g.offset);
                        type = static_cast<TokenType>(t);
                    }
                }
                if (!has_piece || piece.empty()) top.fail(at + " has no piece text", f.offset);
                v.tokens.push_back(std::move(piece));
                v.scores.push_back(score);
                v.types.push_back(type);
                break;
            }
            case spm_field::trainer_spec: {
                has_trainer_spec = true;
                auto r = top.nested(f);
                while (!r.done()) {
                    const Field g = r.next();
                    switch (g.number) {
                        case spm_field::model_type:
                            model_type = static_cast<SpmModelType>(r.as_int32(g, "trainer_spec.model_type"));
                            break;
                        case spm_field::treat_whitespace_as_suffix:
                            treat_whitespace_as_suffix = r.as_bool(g, "trainer_spec.treat_whitespace_as_suffix");
                            break;
                        case spm_field::unk_id: v.unk = r.as_int32(g, "trainer_spec.unk_id"); break;
                        case spm_field::bos_id: v.bos = r.as_int32(g, "trainer_spec.bos_id"); break;
                        case spm_field::eos_id: v.eos = r.as_int32(g, "trainer_spec.eos_id"); break;
                        default: break;  // training-only settings
                    }
                }
                break;
            }
            case spm_field::normalizer_spec: {
                has_normalizer_spec = true;
                auto r = top.nested(f);
                while (!r.done()) {
                    const Field g = r.next();
                    switch (g.number) {
                        case spm_field::name: normalizer_name = std::string(r.as_bytes(g, "normalizer_spec.name")); break;
                        case spm_field::precompiled_charsmap:
                            has_charsmap = !r.as_bytes(g, "normalizer_spec.precompiled_charsmap").empty();
                            break;
                        case spm_field::add_dummy_prefix:
                            v.add_space_prefix = r.as_bool(g, "normalizer_spec.add_dummy_prefix");
                            break;
                        case spm_field::remove_extra_whitespaces:
                            v.remove_extra_whitespaces = r.as_bool(g, "normalizer_spec.remove_extra_whitespaces");
                            break;
                        case spm_field::escape_whitespaces:
                            escape_whitespaces = r.as_bool(g, "normalizer_spec.escape_whitespaces");
                            break;
                        default: break;
                    }
                }
                break;
            }
            default: break;  // self-test data, denormalizer, extensions
        }
    }

    // spm_train always writes both specs; a file without them is cut short or not a model at all.
    check(!v.tokens.empty(), [] { return std::string("not a SentencePiece model: no pieces"); }, ctx);
    check(has_trainer_spec, [] { return std::string("SentencePiece model has no trainer_spec (truncated?)"); }, ctx);
    check(has_normalizer_spec, [] { return std::string("SentencePiece model has no normalizer_spec (truncated?)"); }, ctx);
    check(model_type == SpmModelType::Bpe, [&] {
        const auto t = static_cast<std::int32_t>(model_type);
        const char* names[] = {"?", "unigram", "bpe", "word", "char"};
        return std::string("SentencePiece model type '") + (t >= 1 && t <= 4 ? names[t] : "?") + "' (" +
               std::to_string(t) + ") is not supported; GRETA's tokenizer implements BPE";
    }, ctx);
    check(!has_charsmap, [&] {
        return "SentencePiece normalization rule '" + normalizer_name +
               "' is not supported; GRETA's tokenizer implements 'identity' only";
    }, ctx);
    check(escape_whitespaces && !treat_whitespace_as_suffix, [] {
        return std::string("SentencePiece whitespace options (escape_whitespaces off or treat_whitespace_as_suffix on) "
                           "are not supported");
    }, ctx);

    std::unordered_set<std::string_view> seen;
    seen.reserve(v.tokens.size());
    for (std::size_t i = 0; i < v.tokens.size(); ++i)
        check(seen.insert(v.tokens[i]).second, [&] {
            return "piece " + std::to_string(i) + " '" + v.tokens[i] + "' is defined twice";
        }, ctx);
    validate_vocab(v, source);
    return v;
}

/// Reads a SentencePiece .model file (see vocab_from_sentencepiece_bytes).
inline Vocab vocab_from_sentencepiece_model(const std::filesystem::path& path) {
    // An ifstream opens a directory, and reading it then throws std::ios_base::failure
    // ("basic_filebuf::underflow ...: Is a directory"), whose message names no file.
    std::error_code ec;
    check(!std::filesystem::is_directory(path, ec), [] { return std::string("is a directory, not a SentencePiece model"); },
          ErrorContext{path.string(), {}, {}});
    std::ifstream in(path, std::ios::binary);
    check(in.good(), [] { return std::string("cannot open SentencePiece model"); }, ErrorContext{path.string(), {}, {}});
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    check(!in.bad(), [] { return std::string("read error"); }, ErrorContext{path.string(), {}, {}});
    return vocab_from_sentencepiece_bytes(bytes, path.string());
}

/// Writes `v` as a serialized ModelProto (BPE, identity normalization) that libsentencepiece loads
/// with LoadFromSerializedProto and that vocab_from_sentencepiece_bytes reads back unchanged.
inline std::string serialize_sentencepiece_model(const Vocab& v) {
    protobuf::Writer model;
    bool has_bytes = false;
    for (std::size_t i = 0; i < v.tokens.size(); ++i) {
        protobuf::Writer p;
        p.add_bytes(spm_field::piece, v.tokens[i]);
        p.add_float(spm_field::score, v.scores[i]);
        p.add_int32(spm_field::type, static_cast<std::int32_t>(v.types[i]));
        model.add_message(spm_field::pieces, p);
        has_bytes = has_bytes || v.types[i] == TokenType::Byte;
    }
    auto piece_or_default = [&](std::int32_t id, std::string_view fallback) {
        return id >= 0 && static_cast<std::size_t>(id) < v.tokens.size() ? std::string_view(v.tokens[static_cast<std::size_t>(id)]) : fallback;
    };
    protobuf::Writer trainer;
    trainer.add_int32(spm_field::model_type, static_cast<std::int32_t>(SpmModelType::Bpe));
    trainer.add_int32(spm_field::vocab_size, static_cast<std::int32_t>(v.tokens.size()));
    trainer.add_bool(spm_field::byte_fallback, has_bytes);
    trainer.add_int32(spm_field::unk_id, v.unk);
    trainer.add_int32(spm_field::bos_id, v.bos);
    trainer.add_int32(spm_field::eos_id, v.eos);
    trainer.add_int32(spm_field::pad_id, -1);
    // The library finds its special tokens by these pieces, not by the ids above.
    trainer.add_bytes(spm_field::unk_piece, piece_or_default(v.unk, "<unk>"));
    trainer.add_bytes(spm_field::bos_piece, piece_or_default(v.bos, "<s>"));
    trainer.add_bytes(spm_field::eos_piece, piece_or_default(v.eos, "</s>"));
    model.add_message(spm_field::trainer_spec, trainer);

    protobuf::Writer normalizer;
    normalizer.add_bytes(spm_field::name, "identity");
    normalizer.add_bool(spm_field::add_dummy_prefix, v.add_space_prefix);
    normalizer.add_bool(spm_field::remove_extra_whitespaces, v.remove_extra_whitespaces);
    normalizer.add_bool(spm_field::escape_whitespaces, true);
    model.add_message(spm_field::normalizer_spec, normalizer);
    return model.take();
}

}  // namespace greta::tokenizer
