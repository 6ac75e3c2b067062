// libsentencepiece through SentencePieceAdapter: exact on llama.cpp's cases, and in agreement
// with GRETA's own tokenizer on random text and random ids, for .model files and GGUF vocabularies.
#include <catch2/catch_test_macros.hpp>

#if defined(GRETA_HAS_SENTENCEPIECE) && GRETA_HAS_SENTENCEPIECE

#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <greta/io/gguf.hpp>
#include <greta/tokenizer/gguf_vocab.hpp>
#include <greta/tokenizer/sentencepiece_adapter.hpp>
#include <greta/tokenizer/sentencepiece_model.hpp>
#include <greta/tokenizer/tokenizer.hpp>

#include "shared_files.hpp"
#include "tokenizer_test_support.hpp"

using namespace greta::tokenizer;
using Ids = std::vector<std::int32_t>;

namespace {
/// A vocabulary source: how to build both implementations from it.
struct Source {
    const char* file;
    bool is_gguf;
};

struct Pair {
    std::unique_ptr<Tokenizer> own;
    std::unique_ptr<SentencePieceAdapter> lib;
};

Pair load_both(const std::filesystem::path& p, bool is_gguf) {
    if (is_gguf) {
        const auto f = greta::io::GgufFile::open(p);
        return {std::make_unique<Tokenizer>(vocab_from_gguf(*f)),
                std::make_unique<SentencePieceAdapter>(SentencePieceAdapter::from_gguf(*f))};
    }
    return {std::make_unique<Tokenizer>(vocab_from_sentencepiece_model(p)),
            std::make_unique<SentencePieceAdapter>(SentencePieceAdapter::from_model_file(p))};
}

}  // namespace

TEST_CASE("libsentencepiece adapter: llama.cpp's Llama-2 cases, from .model and from GGUF", "[tokenizer][sentencepiece]") {
    GRETA_SHARED_OR_SKIP(inp, "fixtures/llama2-vocab.tokenizer-cases.inp");
    GRETA_SHARED_OR_SKIP(out, "fixtures/llama2-vocab.tokenizer-cases.out");
    const auto cases = greta::test::read_tokenizer_cases(inp, out);
    for (const Source src : {Source{"models/llama2-tokenizer.model", false}, Source{"models/llama2-vocab.gguf", true}}) {
        GRETA_SHARED_OR_SKIP(path, src.file);
        const auto both = load_both(path, src.is_gguf);
        CHECK(both.lib->size() == 32000);
        CHECK(both.lib->bos() == 1);
        CHECK(both.lib->eos() == 2);
        CHECK(both.lib->piece(15043) == both.own->piece(15043));
        for (const auto& c : cases) {
            INFO(src.file << " text: '" << c.text << "'");
            CHECK(both.lib->encode(c.text, false) == c.ids);
            Ids with_bos = c.ids;
            with_bos.insert(with_bos.begin(), 1);
            CHECK(both.lib->encode(c.text, true) == with_bos);
            CHECK(both.lib->decode(with_bos) == c.text);
            CHECK(both.lib->decode(c.ids) == both.own->decode(c.ids));
        }
    }
}

TEST_CASE("libsentencepiece adapter: tok512 reference prompt, from .model and from GGUF", "[tokenizer][sentencepiece]") {
    GRETA_SHARED_OR_SKIP(tokens, "fixtures/ref/stories260K-f32.tokens");
    const Ids prompt = greta::test::read_id_line(tokens, 1);
    Ids all = prompt;
    for (auto id : greta::test::read_id_line(tokens, 2)) all.push_back(id);
    for (const Source src : {Source{"models/tok512.model", false}, Source{"models/stories260K-f32.gguf", true}}) {
        GRETA_SHARED_OR_SKIP(path, src.file);
        const auto both = load_both(path, src.is_gguf);
        CHECK(both.lib->encode("Once upon a time, there was a little girl named", true) == prompt);
        CHECK(both.lib->decode(all) == both.own->decode(all));
    }
}

TEST_CASE("own tokenizer and libsentencepiece agree on random text and random ids", "[tokenizer][sentencepiece]") {
    const Source sources[] = {{"models/llama2-tokenizer.model", false}, {"models/llama2-vocab.gguf", true},
                              {"models/tok512.model", false}, {"models/stories260K-f32.gguf", true}};
    for (const Source src : sources) {
        GRETA_SHARED_OR_SKIP(path, src.file);
        const auto both = load_both(path, src.is_gguf);
        std::mt19937 rng(1234);
        int compared = 0;
        for (int trial = 0; trial < 400; ++trial) {
            const std::string text = greta::test::random_text(rng, trial < 200 ? 12 : 60);
            INFO(src.file << " text: '" << text << "'");
            const Ids ids = both.own->encode(text, true);
            REQUIRE(ids == both.lib->encode(text, true));
            REQUIRE(both.own->decode(ids) == both.lib->decode(ids));
            ++compared;
        }
        // Arbitrary bytes, malformed UTF-8 included: both normalize each bad byte to U+FFFD.
        for (int trial = 0; trial < 200; ++trial) {
            std::string bytes;
            const int len = static_cast<int>(rng() % 16);
            for (int i = 0; i < len; ++i) bytes += static_cast<char>(rng() % 3 == 0 ? 0x80 + rng() % 128 : rng() % 128);
            INFO(src.file << " bytes trial " << trial);
            REQUIRE(both.own->encode(bytes, false) == both.lib->encode(bytes, false));
        }
        // Random ids: control, unknown and stray byte tokens included.
        const auto n = static_cast<std::uint32_t>(both.own->size());
        for (int trial = 0; trial < 400; ++trial) {
            Ids ids;
            const int len = static_cast<int>(rng() % 20);
            for (int i = 0; i < len; ++i)
                ids.push_back(static_cast<std::int32_t>(rng() % 3 == 0 ? 3 + rng() % 256 : rng() % n));
            INFO(src.file << " ids trial " << trial);
            REQUIRE(both.own->decode(ids) == both.lib->decode(ids));
        }
        CHECK(compared == 400);
    }
}

TEST_CASE("adapter: tok512.model removes extra whitespace as its normalizer says; errors are greta::Error", "[tokenizer][sentencepiece]") {
    GRETA_SHARED_OR_SKIP(model, "models/tok512.model");
    const auto adapter = SentencePieceAdapter::from_model_file(model);
    CHECK(adapter.encode("  Once   upon  ", false) == adapter.encode("Once upon", false));
    CHECK_THROWS_AS(adapter.decode(Ids{512}), greta::Error);
    CHECK_THROWS_AS(adapter.piece(-1), greta::Error);
    CHECK_THROWS_AS(SentencePieceAdapter::from_model_file("/nonexistent/t.model"), greta::Error);
}

#else

TEST_CASE("libsentencepiece adapter", "[tokenizer][sentencepiece]") {
    SKIP("GRETA was built without libsentencepiece");
}

#endif
