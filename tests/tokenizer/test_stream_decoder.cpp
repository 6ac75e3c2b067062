// StreamDecoder: one id at a time reproduces Tokenizer::decode, and no chunk splits a character.
#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <greta/tokenizer/sentencepiece_model.hpp>
#include <greta/tokenizer/stream_decoder.hpp>
#include <greta/tokenizer/tokenizer.hpp>
#include <greta/tokenizer/utf8.hpp>

#include "shared_files.hpp"
#include "tokenizer_test_support.hpp"

using namespace greta::tokenizer;
using Ids = std::vector<std::int32_t>;

namespace {
/// Streams `ids`, checking every chunk is valid UTF-8 on its own; returns the concatenation.
std::string stream(const Tokenizer& tok, const Ids& ids, std::vector<std::string>* chunks = nullptr) {
    StreamDecoder d(tok);
    std::string all;
    for (const auto id : ids) {
        const std::string c = d.push(id);
        REQUIRE(is_valid_utf8(c));
        if (chunks) chunks->push_back(c);
        all += c;
    }
    const std::string last = d.flush();
    REQUIRE(is_valid_utf8(last));
    return all + last;
}
}  // namespace

TEST_CASE("an emoji spelled as byte tokens comes out whole, after its last byte", "[tokenizer][stream]") {
    GRETA_SHARED_OR_SKIP(model, "models/llama2-tokenizer.model");
    GRETA_SHARED_OR_SKIP(inp, "fixtures/llama2-vocab.tokenizer-cases.inp");
    GRETA_SHARED_OR_SKIP(out, "fixtures/llama2-vocab.tokenizer-cases.out");
    const Tokenizer tok(vocab_from_sentencepiece_model(model));
    const std::string rocket = "\xF0\x9F\x9A\x80";
    const auto cases = greta::test::read_tokenizer_cases(inp, out);
    // The case "🚀 (normal) ...": llama.cpp spells it "▁", then U+1F680 as four byte tokens.
    const auto it = std::find_if(cases.begin(), cases.end(), [&](const auto& c) { return c.text.rfind(rocket + " (normal)", 0) == 0; });
    REQUIRE(it != cases.end());
    Ids ids = it->ids;
    ids.insert(ids.begin(), 1);
    REQUIRE(ids.size() > 6);
    for (int k = 0; k < 4; ++k) REQUIRE(tok.type(ids[static_cast<std::size_t>(2 + k)]) == TokenType::Byte);
    std::vector<std::string> chunks;
    CHECK(stream(tok, ids, &chunks) == it->text);
    for (int k = 0; k < 5; ++k) CHECK(chunks[static_cast<std::size_t>(k)].empty());  // BOS, "▁" (stripped), 3 bytes
    CHECK(chunks[5] == rocket);
}

TEST_CASE("streaming the fixture cases reproduces decode()", "[tokenizer][stream]") {
    GRETA_SHARED_OR_SKIP(model, "models/llama2-tokenizer.model");
    GRETA_SHARED_OR_SKIP(inp, "fixtures/llama2-vocab.tokenizer-cases.inp");
    GRETA_SHARED_OR_SKIP(out, "fixtures/llama2-vocab.tokenizer-cases.out");
    const Tokenizer tok(vocab_from_sentencepiece_model(model));
    for (const auto& c : greta::test::read_tokenizer_cases(inp, out)) {
        Ids ids = c.ids;
        ids.insert(ids.begin(), 1);
        CHECK(stream(tok, ids) == tok.decode(ids));
        CHECK(stream(tok, ids) == c.text);  // independent: the fixture's own text
    }
}

TEST_CASE("streaming random id sequences (stray byte tokens included) reproduces decode()", "[tokenizer][stream]") {
    GRETA_SHARED_OR_SKIP(model, "models/tok512.model");
    const Tokenizer tok(vocab_from_sentencepiece_model(model));
    std::mt19937 rng(21);
    for (int trial = 0; trial < 3000; ++trial) {
        Ids ids;
        const int n = static_cast<int>(rng() % 30);
        for (int i = 0; i < n; ++i) {
            // Favour byte tokens (ids 3..258) so broken and complete sequences both occur.
            ids.push_back(rng() % 2 ? static_cast<std::int32_t>(3 + rng() % 256) : static_cast<std::int32_t>(rng() % 512));
        }
        const std::string s = stream(tok, ids);
        REQUIRE(s == tok.decode(ids));
        REQUIRE(is_valid_utf8(s));
    }
}

TEST_CASE("StreamDecoder: BOS rule, flush of an unfinished character, reset, bad id", "[tokenizer][stream]") {
    GRETA_SHARED_OR_SKIP(model, "models/llama2-tokenizer.model");
    const Tokenizer tok(vocab_from_sentencepiece_model(model));
    StreamDecoder d(tok);
    CHECK(d.push(1).empty());
    CHECK(d.push(15043) == "Hello");  // "▁Hello" right after BOS
    CHECK(d.push(3186) == " world");
    CHECK(d.push(3 + 0xE2).empty());
    CHECK(d.pending_bytes() == 1);
    CHECK(d.flush() == "\xEF\xBF\xBD");
    CHECK_THROWS_AS(d.push(99999), greta::Error);
    d.reset();
    CHECK(d.push(15043) == " Hello");  // no BOS before it
}
