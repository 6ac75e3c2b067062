// GRETA's own reader of SentencePiece .model files: contents checked against the other files
// that carry the same vocabularies (llama2.c's tok512.bin), malformed input rejected cleanly.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <random>
#include <string>
#include <vector>

#include <greta/tokenizer/protobuf.hpp>
#include <greta/tokenizer/sentencepiece_model.hpp>

#include "shared_files.hpp"
#include "tokenizer_test_support.hpp"

using namespace greta::tokenizer;
using Catch::Matchers::ContainsSubstring;

namespace {
std::string read_string(const std::filesystem::path& p) {
    const auto b = greta::test::read_bytes(p);
    return std::string(b.begin(), b.end());
}

/// Parses `bytes`; returns the error text, or "" if it parsed.
std::string parse_error(const std::string& bytes, const std::string& name) {
    try {
        (void)vocab_from_sentencepiece_bytes(bytes, name);
        return "";
    } catch (const greta::Error& e) {
        return e.what();
    }
}

std::string piece_message(std::string_view piece, float score, int type) {
    protobuf::Writer w;
    w.add_bytes(1, piece);
    w.add_float(2, score);
    w.add_int32(3, type);
    return w.bytes();
}
}  // namespace

TEST_CASE("llama2 tokenizer.model: 32000 pieces, specials, byte pieces, flags", "[tokenizer][spm]") {
    GRETA_SHARED_OR_SKIP(path, "models/llama2-tokenizer.model");
    const Vocab v = vocab_from_sentencepiece_model(path);
    REQUIRE(v.tokens.size() == 32000);
    CHECK(v.tokens[0] == "<unk>");
    CHECK(v.types[0] == TokenType::Unknown);
    CHECK(v.tokens[1] == "<s>");
    CHECK(v.types[1] == TokenType::Control);
    CHECK(v.tokens[2] == "</s>");
    CHECK(v.types[2] == TokenType::Control);
    for (int b = 0; b < 256; ++b) {
        char expect[8];
        std::snprintf(expect, sizeof expect, "<0x%02X>", b);
        REQUIRE(v.tokens[static_cast<std::size_t>(3 + b)] == expect);
        REQUIRE(v.types[static_cast<std::size_t>(3 + b)] == TokenType::Byte);
    }
    CHECK(v.tokens[259] == "\xE2\x96\x81\xE2\x96\x81");  // "▁▁", the first merge
    CHECK(v.unk == 0);
    CHECK(v.bos == 1);
    CHECK(v.eos == 2);
    CHECK(v.add_bos);
    CHECK(v.add_space_prefix);
    CHECK_FALSE(v.remove_extra_whitespaces);  // the Llama-2 model sets it off explicitly
    // Scores are BPE merge ranks: "▁t" (the first learned merge) outranks later ones.
    CHECK(v.tokens[260] == "\xE2\x96\x81t");
    CHECK(v.scores[260] == -1.0f);
    CHECK(v.scores[1000] < v.scores[260]);
}

TEST_CASE("tok512.model agrees with llama2.c's tok512.bin", "[tokenizer][spm]") {
    GRETA_SHARED_OR_SKIP(model, "models/tok512.model");
    GRETA_SHARED_OR_SKIP(bin, "models/tok512.bin");
    const Vocab v = vocab_from_sentencepiece_model(model);
    REQUIRE(v.tokens.size() == 512);
    const auto ref = greta::test::read_llama2c_tokenizer(bin, 512);
    for (std::size_t i = 0; i < 512; ++i) {
        INFO("token " << i);
        CHECK(v.scores[i] == ref.scores[i]);
        if (i == 1 || i == 2) continue;  // the exporter wrote "\n<s>\n" and "\n</s>\n"
        CHECK(greta::test::meta_to_spaces(v.tokens[i]) == ref.pieces[i]);
    }
    // Trained without a normalizer_spec's flags: SentencePiece's defaults apply.
    CHECK(v.add_space_prefix);
    CHECK(v.remove_extra_whitespaces);
}

TEST_CASE("serialize_sentencepiece_model round-trips through the reader", "[tokenizer][spm]") {
    Vocab v;
    v.tokens = {"<unk>", "<s>", "</s>", "<0x41>", "\xE2\x96\x81" "a", "b", "ab", "<ctl>"};
    v.scores = {0.0f, 0.0f, 0.0f, 0.0f, -1.5f, -2.0f, 3.25f, 0.0f};
    v.types = {TokenType::Unknown, TokenType::Control, TokenType::Control, TokenType::Byte,
               TokenType::Normal, TokenType::UserDefined, TokenType::Unused, TokenType::Control};
    v.unk = 0;
    v.bos = 1;
    v.eos = 7;
    v.add_space_prefix = false;
    v.remove_extra_whitespaces = true;
    const Vocab w = vocab_from_sentencepiece_bytes(serialize_sentencepiece_model(v), "memory");
    CHECK(w.tokens == v.tokens);
    CHECK(w.scores == v.scores);
    CHECK(w.types == v.types);
    CHECK(w.unk == 0);
    CHECK(w.bos == 1);
    CHECK(w.eos == 7);
    CHECK(w.add_space_prefix == false);
    CHECK(w.remove_extra_whitespaces == true);
}

TEST_CASE("a truncated .model is an error naming the file, at every cut", "[tokenizer][spm]") {
    GRETA_SHARED_OR_SKIP(small, "models/tok512.model");
    const std::string bytes = read_string(small);
    // Every cut of the small model (the reader requires both specs, so no cut parses).
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
        const std::string err = parse_error(bytes.substr(0, cut), "tok512-cut.model");
        if (err.rfind("tok512-cut.model: ", 0) != 0) FAIL("cut at " << cut << ": '" << err << "'");
    }
    CHECK(parse_error(bytes, "whole.model").empty());

    GRETA_SHARED_OR_SKIP(large, "models/llama2-tokenizer.model");
    const std::string big = read_string(large);
    std::mt19937 rng(5);
    std::vector<std::size_t> cuts = {1, 2, 3, 10, big.size() - 1, big.size() - 2, big.size() - 40};
    for (int i = 0; i < 40; ++i) cuts.push_back(rng() % big.size());
    for (std::size_t cut : cuts) {
        // Through a real file, so the message names the path given.
        const auto file = greta::test::scratch_dir() / ("llama2-cut-" + std::to_string(cut) + ".model");
        greta::test::write_bytes(file, big.data(), cut);
        try {
            (void)vocab_from_sentencepiece_model(file);
            FAIL("cut at " << cut << " parsed");
        } catch (const greta::Error& e) {
            CHECK_THAT(e.what(), ContainsSubstring(file.string()));
            CHECK(std::string(e.what()).find('\n') == std::string::npos);
        }
        std::filesystem::remove(file);
    }
}

TEST_CASE("randomly corrupted .model bytes throw greta::Error or parse, nothing else", "[tokenizer][spm]") {
    GRETA_SHARED_OR_SKIP(small, "models/tok512.model");
    const std::string bytes = read_string(small);
    std::mt19937 rng(9);
    int errors = 0;
    for (int trial = 0; trial < 3000; ++trial) {
        std::string b = bytes;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<char>(rng() % 256);
        try {
            (void)vocab_from_sentencepiece_bytes(b, "corrupt.model");
        } catch (const greta::Error& e) {
            ++errors;
            REQUIRE(std::string(e.what()).rfind("corrupt.model: ", 0) == 0);
        }
    }
    CHECK(errors > 0);
}

TEST_CASE("specific malformations are reported", "[tokenizer][spm]") {
    auto model_with = [](const std::string& extra_top_level) {
        protobuf::Writer trainer, normalizer, m;
        trainer.add_int32(3, 2);  // BPE
        normalizer.add_bytes(1, "identity");
        m.add_bytes(1, piece_message("<unk>", 0, 2));
        m.add_bytes(1, piece_message("<s>", 0, 3));
        m.add_bytes(1, piece_message("</s>", 0, 3));
        m.add_message(2, trainer);
        m.add_message(3, normalizer);
        return m.bytes() + extra_top_level;
    };
    CHECK(parse_error(model_with(""), "ok.model").empty());
    // An over-long varint: 11 continuation bytes.
    CHECK_THAT(parse_error(model_with(std::string(11, '\xFF')), "x.model"), ContainsSubstring("x.model: "));
    CHECK_THAT(parse_error(model_with(std::string(11, '\xFF')), "x.model"), ContainsSubstring("overflows 64 bits"));
    // Deprecated group wire type (field 9, wire type 3).
    CHECK_THAT(parse_error(model_with(std::string(1, static_cast<char>((9 << 3) | 3))), "x.model"), ContainsSubstring("wire type 3"));
    // Field number 0.
    CHECK_THAT(parse_error(model_with(std::string("\x00\x00", 2)), "x.model"), ContainsSubstring("field number 0"));
    // A length running past the end.
    CHECK_THAT(parse_error(model_with("\x0A\x7F" "abc"), "x.model"), ContainsSubstring("remain"));
    // Piece with an invalid type, and a score sent as a varint.
    {
        protobuf::Writer m;
        m.add_bytes(1, piece_message("x", 0, 7));
        CHECK_THAT(parse_error(model_with(m.bytes()), "x.model"), ContainsSubstring("pieces[3].type"));
        protobuf::Writer p, m2;
        p.add_bytes(1, "y");
        p.add_uint(2, 5);
        m2.add_message(1, p);
        CHECK_THAT(parse_error(model_with(m2.bytes()), "x.model"), ContainsSubstring("pieces[3].score"));
    }
    // Duplicate piece.
    {
        protobuf::Writer m;
        m.add_bytes(1, piece_message("<s>", 0, 1));
        CHECK_THAT(parse_error(model_with(m.bytes()), "x.model"), ContainsSubstring("defined twice"));
    }
    // A unigram model and a non-identity normalizer are refused by name.
    {
        protobuf::Writer trainer, m;
        trainer.add_int32(3, 1);
        m.add_message(2, trainer);
        CHECK_THAT(parse_error(model_with(m.bytes()), "x.model"), ContainsSubstring("unigram"));
        protobuf::Writer norm, m2;
        norm.add_bytes(1, "nmt_nfkc");
        norm.add_bytes(2, "\x01\x02\x03\x04\x05");
        m2.add_message(3, norm);
        CHECK_THAT(parse_error(model_with(m2.bytes()), "x.model"), ContainsSubstring("nmt_nfkc"));
    }
    // Not a model at all.
    CHECK_THAT(parse_error("GGUF\x03\x00\x00\x00", "x.gguf"), ContainsSubstring("x.gguf: "));
    CHECK_THAT(parse_error("", "empty.model"), ContainsSubstring("no pieces"));
    // A missing file.
    CHECK_THROWS_AS(vocab_from_sentencepiece_model("/nonexistent/dir/t.model"), greta::Error);
}
