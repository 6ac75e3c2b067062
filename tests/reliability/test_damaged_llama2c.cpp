// Damaged llama2.c checkpoints (stories260K.bin): truncation over the whole file, random
// corruption of the 7-field header (the format has no magic: the header alone says how big the
// file must be), and corruption of the float data, which must still load and run.
// tests/io covers hand-picked header problems one by one.

#include <catch2/catch_test_macros.hpp>

#include <random>

#include "damage_util.hpp"

using namespace greta;
using namespace greta::test;

namespace {
void load_bin(const Bytes& b, const std::string& name, const tokenizer::Tokenizer& tok) {
    run_model(io::llama2c_model_file(io::MappedFile::from_bytes(b, name)), &tok);
}
}  // namespace

TEST_CASE("llama2.c checkpoint truncated at 40 points over the whole file", "[reliability][llama2c][truncation]") {
    GRETA_SHARED_OR_SKIP(bin, "models/stories260K.bin");
    const Bytes full = file_bytes(bin);
    const auto cuts = spread_cuts(full.size(), 40);
    REQUIRE(cuts.size() >= 31);
    for (const std::size_t cut : cuts) {
        // Through the file path and format detection, as greta_infer opens it.
        const auto file = scratch_dir() / "stories-cut.bin";
        write_file(file, Bytes(full.begin(), full.begin() + std::ptrdiff_t(cut)));
        const std::string what = "stories260K.bin cut at " + std::to_string(cut);
        const auto o = guarded_load(what, full.size(), [&] { run_model(io::open_model_file(file), nullptr); });
        check_outcome(o, what, full.size(), file.string());
        CHECK(o.kind == LoadOutcome::Error);
    }
}

TEST_CASE("llama2.c header with random corruption", "[reliability][llama2c][corruption]") {
    GRETA_SHARED_OR_SKIP(bin, "models/stories260K.bin");
    GRETA_SHARED_OR_SKIP(model, "models/tok512.model");
    const tokenizer::Tokenizer tok(tokenizer::vocab_from_sentencepiece_model(model));
    const Bytes full = file_bytes(bin);
    std::mt19937_64 rng(4242);
    Tally tally;
    for (int i = 0; i < 1000; ++i) {
        const Bytes b = corrupt(full, {0, io::Llama2cHeader::bytes, "header"}, rng);
        const std::string what = "header case " + std::to_string(i);
        const auto o = guarded_load(what, b.size(), [&] { load_bin(b, "mutant.bin", tok); });
        check_outcome(o, what, b.size(), "mutant.bin");
        tally.add(o);
    }
    tally.print("stories260K.bin header corrupted");
    CHECK(tally.errors > 900);  // almost any header change breaks the size the header implies
}

TEST_CASE("llama2.c float data with random corruption still loads and runs", "[reliability][llama2c][corruption]") {
    GRETA_SHARED_OR_SKIP(bin, "models/stories260K.bin");
    GRETA_SHARED_OR_SKIP(model, "models/tok512.model");
    const tokenizer::Tokenizer tok(tokenizer::vocab_from_sentencepiece_model(model));
    const Bytes full = file_bytes(bin);
    std::mt19937_64 rng(4343);
    for (int i = 0; i < 60; ++i) {
        // NaN and infinity bit patterns included: the weights are data, not structure.
        const Bytes b = corrupt(full, {io::Llama2cHeader::bytes, full.size(), "data"}, rng);
        const std::string what = "data case " + std::to_string(i);
        const auto o = guarded_load(what, b.size(), [&] { load_bin(b, "mutant.bin", tok); });
        check_outcome(o, what, b.size(), "mutant.bin");
        CHECK(o.kind == LoadOutcome::Loaded);
    }
}
