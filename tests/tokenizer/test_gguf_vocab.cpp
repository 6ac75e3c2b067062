// Vocabularies read from GGUF metadata: equal to the .model files they were converted from.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sstream>
#include <string>
#include <vector>

#include <greta/io/gguf.hpp>
#include <greta/io/gguf_writer.hpp>
#include <greta/tokenizer/gguf_vocab.hpp>
#include <greta/tokenizer/load_vocab.hpp>
#include <greta/tokenizer/sentencepiece_model.hpp>
#include <greta/tokenizer/tokenizer.hpp>

#include "shared_files.hpp"
#include "tokenizer_test_support.hpp"

using namespace greta::tokenizer;
using Catch::Matchers::ContainsSubstring;
using Ids = std::vector<std::int32_t>;

namespace {

void check_same_vocab(const Vocab& a, const Vocab& b) {
    REQUIRE(a.tokens.size() == b.tokens.size());
    for (std::size_t i = 0; i < a.tokens.size(); ++i) {
        INFO("token " << i);
        REQUIRE(a.tokens[i] == b.tokens[i]);
        REQUIRE(a.scores[i] == b.scores[i]);
        REQUIRE(a.types[i] == b.types[i]);
    }
    CHECK(a.bos == b.bos);
    CHECK(a.eos == b.eos);
    CHECK(a.unk == b.unk);
    CHECK(a.add_space_prefix == b.add_space_prefix);
}

/// A GGUF holding a small tokenizer, with `edit` applied to the writer before writing.
template <class Edit>
std::filesystem::path write_vocab_gguf(const std::string& name, Edit edit) {
    greta::io::GgufWriter w;
    edit(w);
    const auto path = greta::test::scratch_dir() / name;
    w.write(path);
    return path;
}

struct TokenizerKeys {
    std::string model = "llama";
    std::vector<float> scores{0, 0, 0, -1, -2};
    std::vector<std::int32_t> types{2, 3, 3, 1, 1};
};

void add_tokenizer(greta::io::GgufWriter& w, const TokenizerKeys& k = {}) {
    w.add_string("tokenizer.ggml.model", k.model);
    w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xE2\x96\x81" "a", "a"});
    w.add_array("tokenizer.ggml.scores", k.scores);
    w.add_array("tokenizer.ggml.token_type", k.types);
}
}  // namespace

TEST_CASE("llama2-vocab.gguf holds the same vocabulary as tokenizer.model", "[tokenizer][gguf]") {
    GRETA_SHARED_OR_SKIP(gguf, "models/llama2-vocab.gguf");
    GRETA_SHARED_OR_SKIP(model, "models/llama2-tokenizer.model");
    const Vocab g = vocab_from_gguf(*greta::io::GgufFile::open(gguf));
    check_same_vocab(g, vocab_from_sentencepiece_model(model));
    CHECK(g.add_bos);
    CHECK_FALSE(g.remove_extra_whitespaces);
    GRETA_SHARED_OR_SKIP(tiny, "models/llama2-tiny-random-f16.gguf");
    check_same_vocab(vocab_from_gguf(*greta::io::GgufFile::open(tiny)), g);
}

TEST_CASE("stories260K-f32.gguf holds tok512", "[tokenizer][gguf]") {
    GRETA_SHARED_OR_SKIP(gguf, "models/stories260K-f32.gguf");
    GRETA_SHARED_OR_SKIP(model, "models/tok512.model");
    const Vocab g = vocab_from_gguf(*greta::io::GgufFile::open(gguf));
    check_same_vocab(g, vocab_from_sentencepiece_model(model));
    for (const char* synthetic : {"models/synthetic-tiny-f16.gguf", "models/synthetic-tiny-q4_k_m.gguf"}) {
        GRETA_SHARED_OR_SKIP(s, synthetic);
        check_same_vocab(vocab_from_gguf(*greta::io::GgufFile::open(s)), g);
    }
}

TEST_CASE("llama.cpp's Llama-2 tokenizer cases, own tokenizer over the GGUF vocabulary", "[tokenizer][gguf]") {
    GRETA_SHARED_OR_SKIP(gguf, "models/llama2-vocab.gguf");
    GRETA_SHARED_OR_SKIP(inp, "fixtures/llama2-vocab.tokenizer-cases.inp");
    GRETA_SHARED_OR_SKIP(out, "fixtures/llama2-vocab.tokenizer-cases.out");
    const Tokenizer tok(load_vocab(gguf));
    const auto cases = greta::test::read_tokenizer_cases(inp, out);
    REQUIRE(cases.size() == 46);
    for (const auto& c : cases) {
        INFO("text: '" << c.text << "'");
        CHECK(tok.encode(c.text, false) == c.ids);
    }
}

TEST_CASE("tok512 from stories260K-f32.gguf encodes the reference prompt", "[tokenizer][gguf]") {
    GRETA_SHARED_OR_SKIP(gguf, "models/stories260K-f32.gguf");
    GRETA_SHARED_OR_SKIP(tokens, "fixtures/ref/stories260K-f32.tokens");
    GRETA_SHARED_OR_SKIP(bin, "models/tok512.bin");
    const Tokenizer tok(load_vocab(gguf));
    const Ids prompt = greta::test::read_id_line(tokens, 1);
    CHECK(tok.encode("Once upon a time, there was a little girl named", true) == prompt);
    Ids all = prompt;
    for (auto id : greta::test::read_id_line(tokens, 2)) all.push_back(id);
    CHECK(tok.decode(all) == greta::test::llama2c_decode(greta::test::read_llama2c_tokenizer(bin, 512), all, 1));
}

TEST_CASE("load_vocab tells GGUF from .model by content", "[tokenizer][gguf]") {
    GRETA_SHARED_OR_SKIP(model, "models/tok512.model");
    GRETA_SHARED_OR_SKIP(gguf, "models/stories260K-f32.gguf");
    CHECK(load_vocab(model).remove_extra_whitespaces);
    CHECK_FALSE(load_vocab(gguf).remove_extra_whitespaces);
    CHECK_THROWS_AS(load_vocab("/nonexistent/vocab.gguf"), greta::Error);
}

TEST_CASE("GGUF tokenizer metadata errors name the file and key", "[tokenizer][gguf]") {
    auto error_of = [](const std::filesystem::path& p) -> std::string {
        try {
            (void)vocab_from_gguf(*greta::io::GgufFile::open(p));
        } catch (const greta::Error& e) {
            return e.what();
        }
        return "";
    };
    const auto ok = write_vocab_gguf("ok.gguf", [](auto& w) { add_tokenizer(w); });
    CHECK(error_of(ok).empty());
    {
        const Vocab v = vocab_from_gguf(*greta::io::GgufFile::open(ok));
        CHECK(v.add_bos);  // defaults when the keys are absent
        CHECK(v.add_space_prefix);
        CHECK(v.bos == 1);
        CHECK(v.eos == 2);
        CHECK(v.unk == 0);
    }
    const auto gpt2 = write_vocab_gguf("gpt2.gguf", [](auto& w) { add_tokenizer(w, {.model = "gpt2"}); });
    CHECK_THAT(error_of(gpt2), ContainsSubstring(gpt2.string()) && ContainsSubstring("'gpt2'") &&
                                    ContainsSubstring("tokenizer.ggml.model"));
    const auto none = write_vocab_gguf("none.gguf", [](auto& w) { w.add_string("general.name", "x"); });
    CHECK_THAT(error_of(none), ContainsSubstring("tokenizer.ggml.model"));
    const auto short_scores = write_vocab_gguf("short.gguf", [](auto& w) {
        add_tokenizer(w, {.scores = {0, 0}});
    });
    CHECK_THAT(error_of(short_scores), ContainsSubstring("tokenizer.ggml.scores"));
    const auto bad_type = write_vocab_gguf("badtype.gguf", [](auto& w) {
        add_tokenizer(w, {.types = {2, 3, 3, 1, 9}});
    });
    CHECK_THAT(error_of(bad_type), ContainsSubstring("token 4 has invalid type 9"));
    const auto bad_bos = write_vocab_gguf("badbos.gguf", [](auto& w) {
        add_tokenizer(w);
        w.add_uint32("tokenizer.ggml.bos_token_id", 77);
    });
    CHECK_THAT(error_of(bad_bos), ContainsSubstring("tokenizer.ggml.bos_token_id"));
    const auto flags = write_vocab_gguf("flags.gguf", [](auto& w) {
        add_tokenizer(w);
        w.add_bool("tokenizer.ggml.add_bos_token", false);
        w.add_bool("tokenizer.ggml.add_space_prefix", false);
        w.add_uint32("tokenizer.ggml.eos_token_id", 0xFFFFFFFFu);  // llama.cpp's "none"
    });
    const Vocab v = vocab_from_gguf(*greta::io::GgufFile::open(flags));
    CHECK_FALSE(v.add_bos);
    CHECK_FALSE(v.add_space_prefix);
    CHECK(v.eos == -1);
    CHECK(Tokenizer(v).encode("a", false) == Ids{4});  // no dummy prefix: "a", not "▁a"
}
