// GRETA's SentencePiece-BPE tokenizer against llama.cpp's fixtures and hand-worked vocabularies.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <chrono>
#include <random>
#include <sstream>
#include <tuple>
#include <string>
#include <vector>

#include <greta/tokenizer/sentencepiece_model.hpp>
#include <greta/tokenizer/tokenizer.hpp>

#include "shared_files.hpp"
#include "tokenizer_test_support.hpp"

using namespace greta::tokenizer;
using Ids = std::vector<std::int32_t>;

namespace {
const std::string kPrompt = "Once upon a time, there was a little girl named";
const std::string U = "\xE2\x96\x81";  // ▁

/// A small vocabulary: specials, then the given (piece, score, type) rows; no byte tokens.
Vocab tiny_vocab(const std::vector<std::tuple<std::string, float, TokenType>>& rows, bool space_prefix = false) {
    Vocab v;
    v.tokens = {"<unk>", "<s>", "</s>"};
    v.scores = {0, 0, 0};
    v.types = {TokenType::Unknown, TokenType::Control, TokenType::Control};
    for (const auto& [p, s, t] : rows) {
        v.tokens.push_back(p);
        v.scores.push_back(s);
        v.types.push_back(t);
    }
    v.add_space_prefix = space_prefix;
    return v;
}
}  // namespace

TEST_CASE("llama.cpp's Llama-2 tokenizer cases, own tokenizer over tokenizer.model", "[tokenizer]") {
    GRETA_SHARED_OR_SKIP(model, "models/llama2-tokenizer.model");
    GRETA_SHARED_OR_SKIP(inp, "fixtures/llama2-vocab.tokenizer-cases.inp");
    GRETA_SHARED_OR_SKIP(out, "fixtures/llama2-vocab.tokenizer-cases.out");
    const Tokenizer tok(vocab_from_sentencepiece_model(model));
    const auto cases = greta::test::read_tokenizer_cases(inp, out);
    REQUIRE(cases.size() == 46);
    CHECK(cases[0].text == "ied 4 \xC2\xBD months");
    CHECK(cases[0].ids == Ids{474, 287, 29871, 29946, 29871, 30226, 7378});
    for (const auto& c : cases) {
        INFO("text: '" << c.text << "'");
        CHECK(tok.encode(c.text, false) == c.ids);
        // With BOS in front; decode gives the text back exactly (no whitespace is removed).
        Ids with_bos = c.ids;
        with_bos.insert(with_bos.begin(), 1);
        CHECK(tok.encode(c.text, true) == with_bos);
        CHECK(tok.decode(with_bos) == c.text);
    }
}

TEST_CASE("tok512 (stories260K): the reference prompt and its continuation", "[tokenizer]") {
    GRETA_SHARED_OR_SKIP(model, "models/tok512.model");
    GRETA_SHARED_OR_SKIP(tokens, "fixtures/ref/stories260K-f32.tokens");
    GRETA_SHARED_OR_SKIP(bin, "models/tok512.bin");
    const Tokenizer tok(vocab_from_sentencepiece_model(model));
    const Ids prompt = greta::test::read_id_line(tokens, 1);
    const Ids generated = greta::test::read_id_line(tokens, 2);
    REQUIRE(prompt.size() > 1);
    REQUIRE(prompt.front() == 1);
    CHECK(tok.encode(kPrompt, true) == prompt);

    Ids all = prompt;
    all.insert(all.end(), generated.begin(), generated.end());
    const std::string text = tok.decode(all);
    CHECK(text.rfind(kPrompt, 0) == 0);
    const auto ref = greta::test::read_llama2c_tokenizer(bin, 512);
    CHECK(text == greta::test::llama2c_decode(ref, all, 1));
    CHECK(tok.decode(generated) == greta::test::llama2c_decode(ref, generated, 1));
}

TEST_CASE("tok512: the greedy story round-trips through encode and decode", "[tokenizer]") {
    GRETA_SHARED_OR_SKIP(model, "models/tok512.model");
    GRETA_SHARED_OR_SKIP(story_file, "models/stories260K.greedy200.txt");
    const Tokenizer tok(vocab_from_sentencepiece_model(model));
    const auto raw = greta::test::read_bytes(story_file);
    const std::string story(raw.begin(), raw.end());
    const Ids ids = tok.encode(story, true);
    CHECK(ids.size() < story.size() / 2);  // real merges happened
    CHECK(tok.decode(ids) == story);
}

TEST_CASE("merges: highest score first, leftmost on ties", "[tokenizer]") {
    using T = TokenType;
    // ids: 3 a, 4 b, 5 ab, 6 ba
    {
        const Tokenizer tok(tiny_vocab({{"a", 0, T::Normal}, {"b", 0, T::Normal}, {"ab", -1, T::Normal}, {"ba", -1, T::Normal}}));
        CHECK(tok.encode("aba", false) == Ids{5, 3});  // tie: the left pair merges
        CHECK(tok.encode("bab", false) == Ids{6, 4});
    }
    {
        const Tokenizer tok(tiny_vocab({{"a", 0, T::Normal}, {"b", 0, T::Normal}, {"ab", -1, T::Normal}, {"ba", -0.5f, T::Normal}}));
        CHECK(tok.encode("aba", false) == Ids{3, 6});  // the better pair wins wherever it is
    }
    {
        // A merge may only build on what exists after earlier merges: "abc" with ab > bc.
        const Tokenizer tok(tiny_vocab({{"a", 0, T::Normal}, {"b", 0, T::Normal}, {"c", 0, T::Normal},
                                        {"ab", -1, T::Normal}, {"bc", -2, T::Normal}, {"abc", -3, T::Normal}}));
        CHECK(tok.encode("abc", false) == Ids{8});
        CHECK(tok.encode("cabc", false) == Ids{5, 8});
    }
}

TEST_CASE("unused pieces are merge steps only; unknown characters become one <unk> per run", "[tokenizer]") {
    using T = TokenType;
    // ids: 3 a, 4 b, 5 c, 6 ab (unused), 7 abc
    const Tokenizer tok(tiny_vocab({{"a", 0, T::Normal}, {"b", 0, T::Normal}, {"c", 0, T::Normal},
                                    {"ab", -1, T::Unused}, {"abc", -2, T::Normal}}));
    CHECK_FALSE(tok.has_byte_fallback());
    CHECK(tok.encode("abc", false) == Ids{7});
    CHECK(tok.encode("ab", false) == Ids{3, 4});          // split back
    CHECK(tok.encode("abxyc", false) == Ids{3, 4, 0, 5}); // "xy": one <unk>
    CHECK(tok.encode("x\xC3\xA9y", false) == Ids{0});
}

TEST_CASE("control and byte pieces never match text; user-defined pieces match whole", "[tokenizer]") {
    using T = TokenType;
    // ids: 3 <, 4 s, 5 >, 6 <s (normal), 7 <tag> (user-defined), 8 t, 9 a, 10 g
    const Tokenizer tok(tiny_vocab({{"<", 0, T::Normal}, {"s", 0, T::Normal}, {">", 0, T::Normal}, {"<s", -1, T::Normal},
                                    {"<tag>", 0, T::UserDefined}, {"t", 0, T::Normal}, {"a", 0, T::Normal},
                                    {"g", 0, T::Normal}}));
    CHECK(tok.encode("<s>", false) == Ids{6, 5});
    CHECK(tok.encode("t<tag>a", false) == Ids{8, 7, 9});
    CHECK(tok.decode(Ids{1, 8, 7, 2}) == "t<tag>");
}

TEST_CASE("no byte tokens and no <unk>: an unencodable character is an error", "[tokenizer]") {
    Vocab v = tiny_vocab({{"a", 0, TokenType::Normal}});
    v.unk = -1;
    v.types[0] = TokenType::Control;
    const Tokenizer tok(v);
    CHECK(tok.encode("aa", false) == Ids{3, 3});
    CHECK_THROWS_AS(tok.encode("ab", false), greta::Error);
}

TEST_CASE("normalization: dummy prefix, spaces, extra whitespace, malformed bytes", "[tokenizer]") {
    Vocab v = tiny_vocab({{"a", 0, TokenType::Normal}}, true);
    {
        const Tokenizer tok(v);
        CHECK(tok.normalize("") == "");
        CHECK(tok.normalize(" ") == U + U);
        CHECK(tok.normalize("a  b ") == U + "a" + U + U + "b" + U);
        CHECK(tok.normalize("a\xFF") == U + "a\xEF\xBF\xBD");  // U+FFFD for the malformed byte
        CHECK(tok.normalize("\t\n") == U + "\t\n");
    }
    v.remove_extra_whitespaces = true;
    {
        const Tokenizer tok(v);
        CHECK(tok.normalize("   ") == "");
        CHECK(tok.normalize("  a   b  ") == U + "a" + U + "b");
        CHECK(tok.normalize("a \t b") == U + "a" + U + "\t" + U + "b");  // only ' ' collapses
    }
    v.add_space_prefix = false;
    v.remove_extra_whitespaces = false;
    CHECK(Tokenizer(v).normalize(" a") == U + "a");
}

TEST_CASE("decode: BOS rule, control tokens, unknown, bytes, bad ids", "[tokenizer]") {
    GRETA_SHARED_OR_SKIP(model, "models/llama2-tokenizer.model");
    const Tokenizer tok(vocab_from_sentencepiece_model(model));
    const Ids hello_world = tok.encode("Hello world", false);  // "▁Hello", "▁world"
    REQUIRE(hello_world.size() == 2);
    CHECK(tok.piece(hello_world[0]) == U + "Hello");
    CHECK(tok.decode(hello_world) == " Hello world");  // no BOS: nothing stripped
    CHECK(tok.decode(Ids{1, hello_world[0], hello_world[1], 2}) == "Hello world");
    CHECK(tok.decode(Ids{1, hello_world[0], 1, hello_world[1]}) == "Helloworld");  // after every BOS
    CHECK(tok.decode(Ids{0}) == " \xE2\x81\x87 ");
    CHECK(tok.decode(Ids{3 + 0xF0, 3 + 0x9F, 3 + 0x9A, 3 + 0x80}) == "\xF0\x9F\x9A\x80");
    CHECK(tok.decode(Ids{3 + 0xF0, 3 + 0x9F, 2, 3 + 0x41}) == "\xEF\xBF\xBD\xEF\xBF\xBD" "A");
    CHECK_THROWS_AS(tok.decode(Ids{32000}), greta::Error);
    CHECK_THROWS_AS(tok.decode(Ids{-1}), greta::Error);
    CHECK_THROWS_AS(tok.piece(40000), greta::Error);
    CHECK(tok.size() == 32000);
    CHECK(tok.bos() == 1);
    CHECK(tok.eos() == 2);
    CHECK(tok.has_byte_fallback());
}

TEST_CASE("arbitrary bytes encode and decode back to their UTF-8-sanitized form", "[tokenizer]") {
    GRETA_SHARED_OR_SKIP(model, "models/llama2-tokenizer.model");
    const Tokenizer tok(vocab_from_sentencepiece_model(model));
    std::mt19937 rng(17);
    for (int trial = 0; trial < 2000; ++trial) {
        std::string bytes;
        const int len = static_cast<int>(rng() % 24);
        for (int i = 0; i < len; ++i) bytes += static_cast<char>(rng() % 256);
        // The expectation, spelled out here: each byte that starts no well-formed character
        // becomes U+FFFD (checked by decoding code points by hand), and U+2581 reads as a space.
        std::string expected;
        for (std::size_t i = 0; i < bytes.size();) {
            const auto b0 = static_cast<unsigned char>(bytes[i]);
            std::size_t n = b0 < 0x80 ? 1 : b0 >= 0xC2 && b0 <= 0xDF ? 2 : b0 >= 0xE0 && b0 <= 0xEF ? 3 : b0 >= 0xF0 && b0 <= 0xF4 ? 4 : 0;
            bool ok = n > 0 && i + n <= bytes.size();
            std::uint32_t cp = n == 1 ? b0 : n == 2 ? (b0 & 0x1Fu) : n == 3 ? (b0 & 0x0Fu) : (b0 & 0x07u);
            for (std::size_t k = 1; ok && k < n; ++k) {
                const auto b = static_cast<unsigned char>(bytes[i + k]);
                ok = (b & 0xC0) == 0x80;
                cp = (cp << 6) | (b & 0x3Fu);
            }
            const std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
            ok = ok && cp >= min_cp[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
            if (!ok) {
                expected += "\xEF\xBF\xBD";
                i += 1;
            } else {
                expected += cp == 0x2581 ? std::string(" ") : bytes.substr(i, n);
                i += n;
            }
        }
        const Ids ids = tok.encode(bytes, true);
        for (auto id : ids) REQUIRE(tok.type(id) != TokenType::Unknown);
        REQUIRE(tok.decode(ids) == expected);
    }
}

TEST_CASE("encode: malformed UTF-8 input is encoded as U+FFFD, long input stays fast", "[tokenizer]") {
    GRETA_SHARED_OR_SKIP(model, "models/llama2-tokenizer.model");
    const Tokenizer tok(vocab_from_sentencepiece_model(model));
    CHECK(tok.encode("a\xFF" "b", false) == tok.encode("a\xEF\xBF\xBD" "b", false));
    CHECK(tok.encode("", true) == Ids{1});
    CHECK(tok.encode("", false).empty());

    std::mt19937 rng(3);
    std::string big;
    while (big.size() < 400000) big += greta::test::random_text(rng, 60) + " ";
    const auto t0 = std::chrono::steady_clock::now();
    const Ids ids = tok.encode(big, true);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // A literal "▁" in the text comes back as the space it stands for.
    CHECK(tok.decode(ids) == greta::test::meta_to_spaces(big));
    CHECK(s < 10.0);  // quadratic merging would take minutes on 400 kB
    const Ids as = tok.encode(std::string(100000, 'a'), false);
    CHECK(tok.decode(as) == " " + std::string(100000, 'a'));
}
