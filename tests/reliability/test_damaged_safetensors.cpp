// Damaged SafeTensors checkpoints (stories260K's weights as model.safetensors + config.json):
// truncation over the whole file, random corruption of the header length and JSON header,
// of config.json, and JSON nested deep enough to overflow a recursive printer.
// tests/io covers single damage classes on small hand-made files.

#include <catch2/catch_test_macros.hpp>

#include <random>

#include "damage_util.hpp"

using namespace greta;
using namespace greta::test;

namespace {
/// A fresh checkpoint directory holding `weights` and `config`.
std::filesystem::path checkpoint_dir(const std::string& name, const Bytes& weights, std::string_view config) {
    const auto dir = scratch_dir() / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    write_file(dir / "model.safetensors", weights);
    write_file(dir / "config.json", config);
    return dir;
}

void load_dir(const std::filesystem::path& dir) { run_model(io::open_model_file(dir), nullptr); }
}  // namespace

TEST_CASE("SafeTensors checkpoint truncated at 40 points over the whole file", "[reliability][safetensors][truncation]") {
    GRETA_SHARED_OR_SKIP(gguf, "models/stories260K-f32.gguf");
    const HfCheckpoint ck = stories_checkpoint(gguf);
    {
        const auto dir = checkpoint_dir("st-good", ck.safetensors, ck.config_json);
        const auto o = guarded_load("undamaged", ck.safetensors.size(), [&] { load_dir(dir); });
        INFO(o.message);
        REQUIRE(o.kind == LoadOutcome::Loaded);
    }
    const auto cuts = spread_cuts(ck.safetensors.size(), 40);
    REQUIRE(cuts.size() >= 31);
    for (const std::size_t cut : cuts) {
        const auto dir = checkpoint_dir("st-cut", Bytes(ck.safetensors.begin(), ck.safetensors.begin() + std::ptrdiff_t(cut)),
                                        ck.config_json);
        const std::string what = "model.safetensors cut at " + std::to_string(cut);
        const auto o = guarded_load(what, ck.safetensors.size(), [&] { load_dir(dir); });
        check_outcome(o, what, ck.safetensors.size(), (dir / "model.safetensors").string());
        CHECK(o.kind == LoadOutcome::Error);
    }
}

TEST_CASE("SafeTensors header with random corruption (length field and JSON)", "[reliability][safetensors][corruption]") {
    GRETA_SHARED_OR_SKIP(gguf, "models/stories260K-f32.gguf");
    const HfCheckpoint ck = stories_checkpoint(gguf);
    const Region header = safetensors_header_region(ck.safetensors);
    std::mt19937_64 rng(77);
    Tally parse_tally, load_tally;
    for (int i = 0; i < 800; ++i) {
        const Bytes b = corrupt(ck.safetensors, header, rng);
        const std::string what = "header case " + std::to_string(i);
        // The reader alone, from memory...
        const auto o = guarded_load(what, b.size(), [&] {
            const auto f = io::SafeTensorsFile::parse(io::MappedFile::from_bytes(b, "mutant.safetensors"));
            touch_tensors(f->tensors());
        });
        check_outcome(o, what, b.size(), "mutant.safetensors");
        parse_tally.add(o);
        // ...and every 8th case as a whole checkpoint directory, through weight binding.
        if (i % 8 == 0) {
            const auto dir = checkpoint_dir("st-mutant", b, ck.config_json);
            const auto full = guarded_load(what + " (directory)", b.size(), [&] { load_dir(dir); });
            check_outcome(full, what + " (directory)", b.size(), dir.string());
            load_tally.add(full);
        }
    }
    parse_tally.print("SafeTensors header corrupted, reader");
    load_tally.print("SafeTensors header corrupted, checkpoint directory");
    CHECK(parse_tally.errors > 0);
    CHECK(parse_tally.loaded > 0);  // e.g. damage inside a tensor name or "__metadata__"
    CHECK(load_tally.errors > 0);
}

TEST_CASE("config.json with random corruption", "[reliability][safetensors][corruption]") {
    GRETA_SHARED_OR_SKIP(gguf, "models/stories260K-f32.gguf");
    const HfCheckpoint ck = stories_checkpoint(gguf);
    Bytes config(ck.config_json.size());
    std::memcpy(config.data(), ck.config_json.data(), config.size());
    std::mt19937_64 rng(78);
    const auto dir = checkpoint_dir("st-config", ck.safetensors, ck.config_json);
    Tally tally;
    for (int i = 0; i < 150; ++i) {
        const Bytes b = corrupt(config, {0, config.size(), "config.json"}, rng);
        write_file(dir / "config.json", b);
        const std::string what = "config.json case " + std::to_string(i);
        const auto o = guarded_load(what, ck.safetensors.size(), [&] { load_dir(dir); });
        // The error names config.json, or the weights when the config still parses but no
        // longer matches their shapes.
        check_outcome(o, what, ck.safetensors.size(), dir.string());
        tally.add(o);
    }
    tally.print("config.json corrupted");
    CHECK(tally.errors > 0);
}

TEST_CASE("regression: deeply nested JSON is refused, not printed recursively", "[reliability][safetensors]") {
    // 100000 nested arrays in "__metadata__": the reader printed non-string metadata with
    // nlohmann::json::dump(), which recurses once per level and overflowed the stack.
    const std::string nest = std::string(100000, '[') + std::string(100000, ']');
    const std::string text = "{\"__metadata__\":{\"deep\":" + nest + "}}";
    Bytes b(8);
    const std::uint64_t n = text.size();
    std::memcpy(b.data(), &n, 8);
    for (char c : text) b.push_back(std::byte(c));
    const auto o = guarded_load("deep header", b.size(), [&] {
        (void)io::SafeTensorsFile::parse(io::MappedFile::from_bytes(b, "deep.safetensors"));
    });
    check_outcome(o, "deep header", b.size(), "deep.safetensors");
    REQUIRE(o.kind == LoadOutcome::Error);
    CHECK(o.message.find("nested deeper than") != std::string::npos);

    // The same in config.json, whose values are printed for --info.
    GRETA_SHARED_OR_SKIP(gguf, "models/stories260K-f32.gguf");
    const HfCheckpoint ck = stories_checkpoint(gguf);
    nlohmann::json config = nlohmann::json::parse(ck.config_json);
    std::string text2 = config.dump();
    text2.insert(text2.size() - 1, ",\"extra\":" + nest);
    const auto dir = checkpoint_dir("st-deep-config", ck.safetensors, text2);
    const auto o2 = guarded_load("deep config.json", ck.safetensors.size(), [&] { load_dir(dir); });
    check_outcome(o2, "deep config.json", ck.safetensors.size(), (dir / "config.json").string());
    REQUIRE(o2.kind == LoadOutcome::Error);
    CHECK(o2.message.find("nested deeper than") != std::string::npos);
}
