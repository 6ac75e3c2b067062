// Damaged SentencePiece .model files through the whole tokenizer: the protobuf reader, the
// vocabulary checks, Tokenizer construction, encode, decode and streaming of every id.
// tests/tokenizer covers the reader alone (every cut of tok512.model, random bytes in it,
// 47 cuts of the Llama-2 model); here: corruption of both models, spread over their fields,
// through to encoding, under the allocation guard, plus GGUF vocabulary corruption.

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <random>

#include "damage_util.hpp"

using namespace greta;
using namespace greta::test;

namespace {
void load_spm(const Bytes& b, const std::string& name) {
    const tokenizer::Tokenizer tok(tokenizer::vocab_from_sentencepiece_bytes(as_string(b), name));
    exercise_tokenizer(tok);
}
}  // namespace

TEST_CASE("SentencePiece models with random corruption, through encode and decode", "[reliability][tokenizer][corruption]") {
    const std::pair<const char*, int> plan[] = {{"models/tok512.model", 1500}, {"models/llama2-tokenizer.model", 150}};
    for (const auto& [rel, cases] : plan) {
        GRETA_SHARED_OR_SKIP(path, rel);
        const Bytes full = file_bytes(path);
        {
            const auto o = guarded_load(rel, full.size(), [&] { load_spm(full, "whole.model"); });
            INFO(o.message);
            REQUIRE(o.kind == LoadOutcome::Loaded);
        }
        // The pieces come first, the trainer and normalizer specs last: damage both ends, and
        // anywhere.
        const std::size_t n = full.size();
        const Region regions[] = {{0, std::min<std::size_t>(n, 4096), "first pieces"},
                                  {n - std::min<std::size_t>(n, 512), n, "specs"},
                                  {0, n, "anywhere"}};
        std::mt19937_64 rng(99 + std::uint64_t(cases));
        for (const Region& region : regions) {
            Tally tally;
            for (int i = 0; i < cases / 3; ++i) {
                const Bytes b = corrupt(full, region, rng);
                const std::string what = std::string(rel) + " " + region.name + " case " + std::to_string(i);
                const auto o = guarded_load(what, b.size(), [&] { load_spm(b, "mutant.model"); });
                check_outcome(o, what, b.size(), "mutant.model");
                tally.add(o);
            }
            tally.print(std::string(rel) + " " + region.name + " corrupted");
            CHECK(tally.errors > 0);
            CHECK(tally.other == 0);
        }
    }
}

TEST_CASE("vocabulary-only GGUF with its tokenizer arrays corrupted", "[reliability][tokenizer][corruption]") {
    GRETA_SHARED_OR_SKIP(path, "models/llama2-vocab.gguf");
    const Bytes full = file_bytes(path);
    // No tensors: the metadata runs to the end of the header; damage all of it.
    const auto g = io::GgufFile::parse_bytes(full, "llama2-vocab.gguf");
    std::mt19937_64 rng(1001);
    Tally tally;
    for (int i = 0; i < 100; ++i) {
        const Bytes b = corrupt(full, {24, std::size_t(g->data_offset()), "metadata"}, rng);
        const std::string what = "llama2-vocab.gguf case " + std::to_string(i);
        const auto o = guarded_load(what, b.size(), [&] {
            const auto mutant = io::GgufFile::parse(io::MappedFile::from_bytes(b, "mutant-vocab.gguf"));
            exercise_tokenizer(tokenizer::Tokenizer(tokenizer::vocab_from_gguf(*mutant)));
        });
        check_outcome(o, what, b.size(), "mutant-vocab.gguf");
        tally.add(o);
    }
    tally.print("llama2-vocab.gguf metadata corrupted");
    CHECK(tally.errors > 0);
    CHECK(tally.loaded > 0);
}

TEST_CASE("regression: a very long user-defined piece does not make encoding cubic", "[reliability][tokenizer]") {
    // A hostile vocabulary: one 100 kB user-defined piece. Matching user-defined pieces looked
    // up every prefix length in a hash set (O(L^2) per text position): a 10 kB prompt took 25 s.
    tokenizer::Vocab v;
    auto add = [&](std::string piece, tokenizer::TokenType type) {
        v.tokens.push_back(std::move(piece));
        v.scores.push_back(0.0f);
        v.types.push_back(type);
    };
    add("<unk>", tokenizer::TokenType::Unknown);
    add("<s>", tokenizer::TokenType::Control);
    add("</s>", tokenizer::TokenType::Control);
    add("a", tokenizer::TokenType::Normal);
    add("\xE2\x96\x81", tokenizer::TokenType::Normal);
    add(std::string(100000, 'a') + "b", tokenizer::TokenType::UserDefined);  // never quite matches
    add("<|x|>", tokenizer::TokenType::UserDefined);
    add("<|x|>y", tokenizer::TokenType::UserDefined);                        // longest match wins
    const tokenizer::Tokenizer tok(v);

    const std::string text(10000, 'a');
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok.encode(text, true);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(ids.size() == 1 + 1 + text.size());  // BOS, "▁", then one "a" per byte
    CHECK(seconds < 5.0);                      // ~0.1 s under ASan; the quadratic search took minutes

    // Matching is unchanged: the longest user-defined piece at a position, taken whole.
    const auto mixed = tok.encode("a<|x|>ya<|x|>", false);
    CHECK(mixed == std::vector<std::int32_t>{4, 3, 7, 3, 6});
    CHECK(tok.decode(tok.encode(std::string(100000, 'a') + "b", false)).size() == 100002);  // " " + piece
}
