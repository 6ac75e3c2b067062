#pragma once
/// @file SentencePieceAdapter: the same encode/decode interface as Tokenizer, computed by
/// libsentencepiece. Exists when GRETA is built with the library (GRETA_HAS_SENTENCEPIECE); used
/// to cross-check GRETA's own tokenizer and as an alternative implementation.

#if defined(GRETA_HAS_SENTENCEPIECE) && GRETA_HAS_SENTENCEPIECE

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sentencepiece_processor.h>

#include <greta/core/error.hpp>
#include <greta/io/gguf.hpp>
#include <greta/tokenizer/gguf_vocab.hpp>
#include <greta/tokenizer/protobuf.hpp>
#include <greta/tokenizer/sentencepiece_model.hpp>
#include <greta/tokenizer/tokenizer.hpp>
#include <greta/tokenizer/vocab.hpp>

namespace greta::tokenizer {

class SentencePieceAdapter {
public:
    /// Loads a .model file with the library itself.
    static SentencePieceAdapter from_model_file(const std::filesystem::path& path) {
        const std::string source = path.string();
        std::ifstream in(path, std::ios::binary);
        check(in.good(), [] { return std::string("cannot open SentencePiece model"); }, ErrorContext{source, {}, {}});
        std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        auto encoder = std::make_unique<sentencepiece::SentencePieceProcessor>();
        check_status(encoder->Load(source), source, "loading the model");
        return SentencePieceAdapter(std::move(encoder), bytes, source);
    }

    /// Builds a ModelProto from `vocab` in memory (LoadFromSerializedProto).
    static SentencePieceAdapter from_vocab(const Vocab& vocab, const std::string& source = "vocabulary") {
        validate_vocab(vocab, source);
        const std::string bytes = serialize_sentencepiece_model(vocab);
        auto encoder = std::make_unique<sentencepiece::SentencePieceProcessor>();
        check_status(encoder->LoadFromSerializedProto(bytes), source, "loading the vocabulary");
        return SentencePieceAdapter(std::move(encoder), bytes, source);
    }

    /// The vocabulary of a GGUF file, through from_vocab.
    static SentencePieceAdapter from_gguf(const io::GgufFile& f) { return from_vocab(vocab_from_gguf(f), f.path()); }

    /// Same contract as Tokenizer::encode.
    std::vector<std::int32_t> encode(std::string_view text, bool add_bos) const {
        std::vector<int> raw;
        check_status(encoder_->Encode(text, &raw), source_, "encoding");
        std::vector<std::int32_t> ids;
        ids.reserve(raw.size() + 1);
        if (add_bos && bos() >= 0) ids.push_back(bos());
        ids.insert(ids.end(), raw.begin(), raw.end());
        return ids;
    }

    /// Same contract as Tokenizer::decode: the library decodes, without its own rule for the
    /// leading space; GRETA's rule (strip it from the piece right after BOS) is applied here.
    std::string decode(std::span<const std::int32_t> ids) const {
        std::string out;
        std::size_t begin = 0;
        bool after_bos = false;
        for (std::size_t i = 0; i <= ids.size(); ++i) {
            if (i < ids.size() && ids[i] != bos()) continue;
            // [begin, i) holds no BOS: decode it as one run.
            if (i > begin) {
                const std::vector<int> run(ids.begin() + static_cast<std::ptrdiff_t>(begin),
                                           ids.begin() + static_cast<std::ptrdiff_t>(i));
                std::string text;
                check_status(decoder_->Decode(run, &text), source_, "decoding");
                if (after_bos && starts_with_space_piece(run.front()) && !text.empty() && text.front() == ' ')
                    text.erase(0, 1);
                out += text;
            }
            after_bos = i < ids.size();
            begin = i + 1;
        }
        return out;
    }

    std::string_view piece(std::int32_t id) const {
        check_id(id);
        return encoder_->IdToPiece(id);
    }
    std::int32_t bos() const { return encoder_->bos_id(); }
    std::int32_t eos() const { return encoder_->eos_id(); }
    std::size_t size() const { return static_cast<std::size_t>(encoder_->GetPieceSize()); }

private:
    SentencePieceAdapter(std::unique_ptr<sentencepiece::SentencePieceProcessor> encoder, const std::string& model_bytes,
                         std::string source)
        : encoder_(std::move(encoder)), decoder_(std::make_unique<sentencepiece::SentencePieceProcessor>()),
          source_(std::move(source)) {
        // The decoder is the same model with two settings overridden by appending fields (protobuf
        // merges a repeated sub-message): no dummy-prefix stripping of its own, and <unk> shown as
        // " ⁇ " whatever the model file says.
        protobuf::Writer trainer, normalizer, overrides;
        trainer.add_bytes(spm_field::unk_surface, unknown_surface);
        normalizer.add_bool(spm_field::add_dummy_prefix, false);
        normalizer.add_bool(spm_field::remove_extra_whitespaces, false);
        overrides.add_message(spm_field::trainer_spec, trainer);
        overrides.add_message(spm_field::normalizer_spec, normalizer);
        check_status(decoder_->LoadFromSerializedProto(model_bytes + overrides.bytes()), source_, "loading the decoder");
    }

    static void check_status(const sentencepiece::util::Status& s, const std::string& source, const char* what) {
        check(s.ok(), [&] { return std::string("libsentencepiece failed ") + what + ": " + s.ToString(); },
              ErrorContext{source, {}, {}});
    }

    void check_id(std::int32_t id) const {
        check(id >= 0 && static_cast<std::size_t>(id) < size(), [&] {
            return "token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(size());
        }, ErrorContext{source_, {}, {}});
    }

    bool starts_with_space_piece(int id) const {
        if (id < 0 || id >= encoder_->GetPieceSize()) return false;
        if (encoder_->IsControl(id) || encoder_->IsUnknown(id) || encoder_->IsByte(id)) return false;
        return std::string_view(encoder_->IdToPiece(id)).starts_with(space_symbol);
    }

    std::unique_ptr<sentencepiece::SentencePieceProcessor> encoder_;
    std::unique_ptr<sentencepiece::SentencePieceProcessor> decoder_;
    std::string source_;
};

}  // namespace greta::tokenizer

#endif  // GRETA_HAS_SENTENCEPIECE
