// Damaged files through greta_infer, for every format it reads: a GGUF; a SafeTensors
// checkpoint directory (model.safetensors + config.json); a llama2.c .bin with --tokenizer; a
// damaged --tokenizer .model. A damaged file must end the program with exit code 1, nothing on
// stdout and one line on stderr naming the file: never a signal, a hang, or a memory blow-up
// (the child's peak RSS is checked). Randomly corrupted files may also load and run (exit 0).
// tests/cli covers truncated GGUFs; this covers the other formats, corruption, and --tokenizer.

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <random>

#include "damage_util.hpp"
#include "process.hpp"

using namespace greta;
using namespace greta::test;
using Catch::Matchers::ContainsSubstring;

namespace {
const std::string kInfer = GRETA_INFER_PATH;

std::size_t lines(const std::string& s) {
    std::size_t n = 0;
    for (char c : s) n += c == '\n';
    return n + (!s.empty() && s.back() != '\n');
}

/// Peak RSS allowed for greta_infer on these ~1 MB models: 4x the input plus 512 MiB (room for
/// a sanitizer build's shadow memory and allocator caches).
long rss_limit_kib(std::size_t input_bytes) { return long((4 * input_bytes) / 1024 + 512 * 1024); }

/// Generation arguments: a short greedy run. -c 64 fixes the KV cache size, which otherwise
/// follows the context length the file claims (see the hidden test at the end).
std::vector<std::string> gen_args(const std::filesystem::path& model, const std::filesystem::path& tokenizer = {}) {
    std::vector<std::string> a{"-m", model.string(), "-p", "Once upon a time", "-n", "4", "--temp", "0", "-c", "64", "-t", "1"};
    if (!tokenizer.empty()) a.insert(a.end(), {"--tokenizer", tokenizer.string()});
    return a;
}

void check_no_crash(const ChildResult& r, std::size_t input_bytes) {
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code < 128);  // no signal
    CHECK(r.max_rss_kib < rss_limit_kib(input_bytes));
}

/// A damaged file: exit 1, stdout empty, one stderr line naming `file`.
void check_refused(const ChildResult& r, const std::string& file, std::size_t input_bytes) {
    CAPTURE(r.exit_code, r.err, r.max_rss_kib);
    check_no_crash(r, input_bytes);
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(lines(r.err) == 1);
    CHECK_THAT(r.err, ContainsSubstring(file));
}

/// Randomly damaged: either it runs (exit 0) or it is refused as above.
void check_runs_or_refused(const ChildResult& r, const std::string& file, std::size_t input_bytes, Tally& tally) {
    CAPTURE(r.exit_code, r.err, r.max_rss_kib);
    check_no_crash(r, input_bytes);
    CHECK((r.exit_code == 0 || r.exit_code == 1));
    if (r.exit_code == 1) {
        CHECK(r.out.empty());
        CHECK(lines(r.err) == 1);
        CHECK_THAT(r.err, ContainsSubstring(file));
        ++tally.errors;
    } else {
        ++tally.loaded;
    }
}

std::filesystem::path scratch_file(const std::string& name, const Bytes& b) {
    const auto p = scratch_dir() / name;
    write_file(p, b);
    return p;
}

/// Offset of the u32 value of a GGUF metadata key stored as u32.
std::size_t u32_value_at(const Bytes& b, const std::string& key) {
    const std::size_t at = as_string(b).find(key + std::string("\x04\x00\x00\x00", 4));
    REQUIRE(at != std::string::npos);
    return at + key.size() + 4;
}
}  // namespace

TEST_CASE("CLI: GGUF damage classes are refused naming the file", "[reliability][cli][gguf]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    const Bytes good = file_bytes(model);
    REQUIRE(run_child(kInfer, gen_args(model)).exit_code == 0);
    auto poke64 = [](Bytes b, std::size_t at, std::uint64_t v) {
        std::memcpy(b.data() + at, &v, 8);
        return b;
    };
    auto poke32 = [](Bytes b, std::size_t at, std::uint32_t v) {
        std::memcpy(b.data() + at, &v, 4);
        return b;
    };
    const auto g = io::GgufFile::parse_bytes(good, "x");
    const auto regions = gguf_regions(good);
    const std::size_t table = regions[2].begin;
    // The first seven break the file's structure, so --info (which reads the file without
    // binding weights) refuses them too; the rest break the model description.
    const std::pair<std::string, Bytes> cases[] = {
        {"magic", poke32(good, 0, 0x46554746)},
        {"version", poke32(good, 4, 7)},
        {"tensor-count", poke64(good, 8, std::uint64_t(1) << 40)},
        {"kv-count", poke64(good, 16, ~std::uint64_t(0))},
        {"first-key-length", poke64(good, 24, std::uint64_t(1) << 50)},
        {"first-tensor-name-length", poke64(good, table, good.size())},
        {"first-tensor-dims", poke32(good, table + 8 + g->tensors()[0].name.size(), 9)},
        {"heads-overflow", poke32(good, u32_value_at(good, "llama.attention.head_count"), (1u << 29) + 8)},
        {"heads-zero", poke32(good, u32_value_at(good, "llama.attention.head_count"), 0)},
        {"layers-more", poke32(good, u32_value_at(good, "llama.block_count"), 6)},
        {"embedding-width", poke32(good, u32_value_at(good, "llama.embedding_length"), 65)},
        {"tokens-cut", Bytes(good.begin(), good.begin() + std::ptrdiff_t(good.size() / 2))},
    };
    for (std::size_t i = 0; i < std::size(cases); ++i) {
        const auto& [name, bytes] = cases[i];
        INFO("damage: " << name);
        const auto file = scratch_file("cli-" + name + ".gguf", bytes);
        check_refused(run_child(kInfer, gen_args(file)), file.string(), bytes.size());
        if (i < 7 || name == "tokens-cut")
            check_refused(run_child(kInfer, {"--info", "-m", file.string()}), file.string(), bytes.size());
    }
}

TEST_CASE("CLI: GGUF with random corruption runs or is refused naming the file", "[reliability][cli][gguf]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    const Bytes good = file_bytes(model);
    std::mt19937_64 rng(515);
    for (const Region& region : gguf_regions(good)) {
        Tally tally;
        for (int i = 0; i < 12; ++i) {
            INFO(region.name << " case " << i);
            const auto file = scratch_file("cli-mutant.gguf", corrupt(good, region, rng));
            check_runs_or_refused(run_child(kInfer, gen_args(file)), file.string(), good.size(), tally);
        }
        tally.print("greta_infer, stories260K-f32.gguf " + region.name + " corrupted");
        CHECK(tally.errors > 0);
    }
}

TEST_CASE("CLI: damaged SafeTensors checkpoints are refused naming the file", "[reliability][cli][safetensors]") {
    GRETA_SHARED_OR_SKIP(gguf, "models/stories260K-f32.gguf");
    GRETA_SHARED_OR_SKIP(tok, "models/tok512.model");
    const HfCheckpoint ck = stories_checkpoint(gguf);
    const auto dir = scratch_dir() / "cli-st";
    auto reset = [&] {
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        write_file(dir / "model.safetensors", ck.safetensors);
        write_file(dir / "config.json", ck.config_json);
    };
    reset();
    {
        const auto r = run_child(kInfer, gen_args(dir, tok));
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
    }
    const std::string weights = (dir / "model.safetensors").string(), config = (dir / "config.json").string();
    const std::size_t size = ck.safetensors.size();
    for (const std::size_t cut : {std::size_t(0), std::size_t(5), std::size_t(100), size / 3, size - 1}) {
        INFO("model.safetensors cut at " << cut);
        reset();
        write_file(dir / "model.safetensors", Bytes(ck.safetensors.begin(), ck.safetensors.begin() + std::ptrdiff_t(cut)));
        check_refused(run_child(kInfer, gen_args(dir, tok)), weights, size);
        // Named directly, the file is still the one blamed.
        check_refused(run_child(kInfer, gen_args(weights, tok)), weights, size);
    }
    {
        INFO("header JSON broken");
        reset();
        Bytes b = ck.safetensors;
        b[8] = std::byte{'!'};
        write_file(dir / "model.safetensors", b);
        check_refused(run_child(kInfer, gen_args(dir, tok)), weights, size);
    }
    {
        INFO("header length too large");
        reset();
        Bytes b = ck.safetensors;
        const std::uint64_t huge = std::uint64_t(1) << 60;
        std::memcpy(b.data(), &huge, 8);
        write_file(dir / "model.safetensors", b);
        check_refused(run_child(kInfer, gen_args(dir, tok)), weights, size);
    }
    const std::string bad_configs[] = {ck.config_json.substr(0, ck.config_json.size() / 2), "\x00\xFF garbage", "[]",
                                       "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": -3}",
                                       // Valid, with a value nested 100000 deep (printed by --info and the
                                       // loader's metadata: a stack overflow before the depth limit).
                                       ck.config_json.substr(0, ck.config_json.rfind('}')) + ",\"a\":" +
                                           std::string(100000, '[') + std::string(100000, ']') + "}"};
    for (const auto& text : bad_configs) {
        INFO("config.json: " << text.substr(0, 60));
        reset();
        write_file(dir / "config.json", text);
        check_refused(run_child(kInfer, gen_args(dir, tok)), config, size);
    }
    {
        INFO("config.json is a directory");
        reset();
        std::filesystem::remove(dir / "config.json");
        std::filesystem::create_directories(dir / "config.json");
        check_refused(run_child(kInfer, gen_args(dir, tok)), config, size);
    }
    std::mt19937_64 rng(616);
    Tally tally;
    for (int i = 0; i < 16; ++i) {
        INFO("random header case " << i);
        reset();
        write_file(dir / "model.safetensors", corrupt(ck.safetensors, safetensors_header_region(ck.safetensors), rng));
        check_runs_or_refused(run_child(kInfer, gen_args(dir, tok)), dir.string(), size, tally);
    }
    tally.print("greta_infer, model.safetensors header corrupted");
    CHECK(tally.errors > 0);
}

TEST_CASE("CLI: damaged llama2.c checkpoints are refused naming the file", "[reliability][cli][llama2c]") {
    GRETA_SHARED_OR_SKIP(bin, "models/stories260K.bin");
    GRETA_SHARED_OR_SKIP(tok, "models/tok512.model");
    const Bytes good = file_bytes(bin);
    for (const std::size_t cut : {std::size_t(0), std::size_t(20), std::size_t(28), good.size() / 2, good.size() - 4}) {
        INFO("cut at " << cut);
        const auto file = scratch_file("cli-cut.bin", Bytes(good.begin(), good.begin() + std::ptrdiff_t(cut)));
        check_refused(run_child(kInfer, gen_args(file, tok)), file.string(), good.size());
    }
    const std::pair<std::size_t, std::int32_t> fields[] = {{0, 65}, {4, 0}, {8, -1}, {12, 7}, {16, 3}, {20, 0}, {24, 0x7FFFFFFF}};
    for (const auto& [at, value] : fields) {
        INFO("header field at " << at << " = " << value);
        Bytes b = good;
        std::memcpy(b.data() + at, &value, 4);
        const auto file = scratch_file("cli-header.bin", b);
        check_refused(run_child(kInfer, gen_args(file, tok)), file.string(), good.size());
    }
    std::mt19937_64 rng(717);
    Tally tally;
    for (int i = 0; i < 12; ++i) {
        INFO("random header case " << i);
        const auto file = scratch_file("cli-mutant.bin", corrupt(good, {0, 28, "header"}, rng));
        check_runs_or_refused(run_child(kInfer, gen_args(file, tok)), file.string(), good.size(), tally);
    }
    tally.print("greta_infer, stories260K.bin header corrupted");
    CHECK(tally.errors > 0);
}

TEST_CASE("CLI: a damaged --tokenizer .model is refused naming it", "[reliability][cli][tokenizer]") {
    GRETA_SHARED_OR_SKIP(bin, "models/stories260K.bin");
    GRETA_SHARED_OR_SKIP(tok, "models/tok512.model");
    GRETA_SHARED_OR_SKIP(llama2_tok, "models/llama2-tokenizer.model");
    const Bytes good = file_bytes(tok);
    REQUIRE(run_child(kInfer, gen_args(bin, tok)).exit_code == 0);
    std::vector<std::pair<std::string, Bytes>> cases;
    for (const std::size_t cut : {std::size_t(1), std::size_t(100), good.size() / 2, good.size() - 1})
        cases.emplace_back("cut at " + std::to_string(cut), Bytes(good.begin(), good.begin() + std::ptrdiff_t(cut)));
    cases.emplace_back("empty", Bytes{});
    const Bytes model_bytes = file_bytes(bin);
    cases.emplace_back("a llama2.c header instead", Bytes(model_bytes.begin(), model_bytes.begin() + 28));
    {
        Bytes b = good;
        b[1] = std::byte{0x7F};  // the first piece claims 127 bytes
        cases.emplace_back("first length", b);
    }
    for (const auto& [name, bytes] : cases) {
        INFO(name);
        const auto file = scratch_file("cli-tok.model", bytes);
        check_refused(run_child(kInfer, gen_args(bin, file)), file.string(), good.size());
        check_refused(run_child(kInfer, {"--tokenize", "-m", bin.string(), "--tokenizer", file.string(), "-p", "hi"}),
                      file.string(), good.size());
    }
    // A valid tokenizer of the wrong size for the model.
    check_refused(run_child(kInfer, gen_args(bin, llama2_tok)), llama2_tok.string(), good.size());
    // Regression: a directory was read as a file and the std::ios_base::failure this throws
    // ("basic_filebuf::underflow error reading the file: Is a directory") named no file.
    const auto dir = scratch_dir() / "tokenizer-dir.model";
    std::filesystem::create_directories(dir);
    check_refused(run_child(kInfer, gen_args(bin, dir)), dir.string(), good.size());

    std::mt19937_64 rng(818);
    Tally tally;
    for (int i = 0; i < 16; ++i) {
        INFO("random case " << i);
        const auto file = scratch_file("cli-tok-mutant.model", corrupt(good, {0, good.size(), "all"}, rng));
        check_runs_or_refused(run_child(kInfer, gen_args(bin, file)), file.string(), good.size(), tally);
    }
    tally.print("greta_infer, --tokenizer tok512.model corrupted");
    CHECK(tally.errors > 0);
}

// Without -c the KV cache follows the context length the file claims, up to
// Engine::kAutoContextCap: one damaged u32 once made greta_infer allocate tens of GiB (2^24
// positions: 13 GiB resident, minutes of zero-filling) or print "std::bad_alloc" without naming
// the file (2^31 - 1).
TEST_CASE("CLI: a damaged context length neither exhausts memory nor loses the file name",
          "[reliability][cli][gguf]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    const Bytes good = file_bytes(model);
    for (const std::uint32_t ctx : {1u << 24, 0x7FFFFFFFu}) {
        INFO("llama.context_length = " << ctx);
        Bytes b = good;
        std::memcpy(b.data() + u32_value_at(b, "llama.context_length"), &ctx, 4);
        const auto file = scratch_file("cli-ctx.gguf", b);
        const auto r = run_child(kInfer, {"-m", file.string(), "-p", "Once", "-n", "2", "--temp", "0", "-t", "1"},
                                 std::chrono::seconds(60));
        CAPTURE(r.exit_code, r.err, r.max_rss_kib);
        check_no_crash(r, b.size());
        if (r.exit_code != 0) check_refused(r, file.string(), b.size());
    }
}
