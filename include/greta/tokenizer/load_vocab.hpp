#pragma once
/// @file load_vocab: a vocabulary from a GGUF file or a SentencePiece .model, told apart by content.

#include <array>
#include <filesystem>
#include <fstream>
#include <string>

#include <greta/core/error.hpp>
#include <greta/io/gguf.hpp>
#include <greta/tokenizer/gguf_vocab.hpp>
#include <greta/tokenizer/sentencepiece_model.hpp>
#include <greta/tokenizer/vocab.hpp>

namespace greta::tokenizer {

/// A file starting with the GGUF magic is read as GGUF, anything else as a SentencePiece model
/// (whose parser rejects what is not one). Throws greta::Error naming the file.
inline Vocab load_vocab(const std::filesystem::path& path) {
    std::array<char, 4> magic{};
    {
        std::ifstream in(path, std::ios::binary);
        check(in.good(), [] { return std::string("cannot open tokenizer file"); }, ErrorContext{path.string(), {}, {}});
        in.read(magic.data(), magic.size());
    }
    if (std::string_view(magic.data(), magic.size()) == "GGUF") return vocab_from_gguf(*io::GgufFile::open(path));
    return vocab_from_sentencepiece_model(path);
}

}  // namespace greta::tokenizer
