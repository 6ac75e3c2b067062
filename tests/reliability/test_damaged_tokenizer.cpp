// Damaged SentencePiece .model files through the whole tokenizer: the protobuf reader, the
// vocabulary checks, Tokenizer construction, encode, decode and streaming of every id.
// tests/tokenizer covers the reader alone (every cut of tok512.model, random bytes in it,
// 47 cuts of the Llama-2 model); here: corruption of both models, spread over their fields,
// through to encoding, under the allocation guard, plus GGUF vocabulary corruption.

#include <catch2/catch_test_macros.hpp>

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
