#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sstream>

#include "run_process.hpp"
#include "shared_files.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using greta::test::line_count;
using greta::test::run_process;

namespace {
const std::string kInfer = GRETA_INFER_PATH;

std::string file_text(const std::filesystem::path& p) {
    const auto b = greta::test::read_bytes(p);
    return std::string(b.begin(), b.end());
}

/// A bad invocation: exit 1, nothing on stdout, exactly one line on stderr.
void check_one_line_error(const greta::test::ProcessResult& r, const std::string& must_mention) {
    CAPTURE(r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(line_count(r.err) == 1);
    CHECK_THAT(r.err, ContainsSubstring(must_mention));
}
}  // namespace

TEST_CASE("greta_infer greedy 200 tokens prints exactly the reference text", "[cli][greedy]") {
    GRETA_SHARED_OR_SKIP(expected, "models/stories260K.greedy200.txt");
    SECTION("GGUF") {
        GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
        auto r = run_process(kInfer, {"-m", model, "--temp", "0", "-n", "200", "-p", "", "--backend", "cpu"});
        CAPTURE(r.err);
        CHECK(r.exit_code == 0);
        CHECK(r.out == file_text(expected));
        CHECK_THAT(r.err, ContainsSubstring("tok/s"));  // the stats line goes to stderr
    }
    SECTION("llama2.c checkpoint") {
        GRETA_SHARED_OR_SKIP(model, "models/stories260K.bin");
        GRETA_SHARED_OR_SKIP(tok, "models/tok512.model");
        auto r = run_process(kInfer, {"-m", model, "--tokenizer", tok, "--temp", "0", "-n", "200", "-p", "",
                                      "--backend", "cpu"});
        CAPTURE(r.err);
        CHECK(r.exit_code == 0);
        CHECK(r.out == file_text(expected));
    }
}

TEST_CASE("stdout starts with the prompt text", "[cli]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    auto r = run_process(kInfer, {"-m", model, "-p", "Once upon a time", "-n", "8", "--seed", "3"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, StartsWith("Once upon a time"));
    CHECK(r.out.size() > std::string("Once upon a time").size());
}

TEST_CASE("--tokenize prints llama.cpp's token ids", "[cli][tokenizer]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    GRETA_SHARED_OR_SKIP(tokens, "fixtures/ref/stories260K-f32.tokens");
    std::string first_line = file_text(tokens);
    first_line = first_line.substr(0, first_line.find('\n'));
    while (!first_line.empty() && first_line.back() == ' ') first_line.pop_back();
    auto r = run_process(kInfer, {"--tokenize", "-m", model, "-p", "Once upon a time, there was a little girl named"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == first_line + "\n");
}

TEST_CASE("--dump-logits writes prompt rows then one row per generated token", "[cli]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    const auto dump = greta::test::scratch_dir() / "logits.f32";
    auto r = run_process(kInfer, {"-m", model, "-p", "Once upon", "-n", "4", "--temp", "0", "--dump-logits", dump.string()});
    REQUIRE(r.exit_code == 0);
    auto tok = run_process(kInfer, {"--tokenize", "-m", model, "-p", "Once upon"});
    std::istringstream ids(tok.out);
    std::size_t n_prompt = 0;
    for (int id; ids >> id;) ++n_prompt;
    CHECK(std::filesystem::file_size(dump) == (n_prompt + 4) * 512 * sizeof(float));
}

TEST_CASE("--info prints metadata and the tensor table", "[cli][info]") {
    GRETA_SHARED_OR_SKIP(model, "models/synthetic-tiny-q4_k_m.gguf");
    auto r = run_process(kInfer, {"--info", "-m", model});
    CAPTURE(r.err);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, ContainsSubstring("blk.1.ffn_down.weight") && ContainsSubstring("Q6_K") &&
                          ContainsSubstring("Q4_K") && ContainsSubstring("general.architecture"));
}

TEST_CASE("bad invocations: one-line error, exit 1", "[cli][errors]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    GRETA_SHARED_OR_SKIP(bin, "models/stories260K.bin");
    check_one_line_error(run_process(kInfer, {"-m", model, "--no-such-flag"}), "--no-such-flag");
    check_one_line_error(run_process(kInfer, {"-m", model, "--temp", "-1"}), "temperature");
    check_one_line_error(run_process(kInfer, {"-m", model, "--top-p", "1.5"}), "top");
    check_one_line_error(run_process(kInfer, {"-m", model, "--top-p", "0"}), "top");
    check_one_line_error(run_process(kInfer, {"-m", model, "--temp", "abc"}), "temp");
    check_one_line_error(run_process(kInfer, {"-m", bin, "-p", "hi"}), "tokenizer");
    check_one_line_error(run_process(kInfer, {"-m", model, "-c", "4", "-p", "Once upon a time there was"}),
                         "context");
    check_one_line_error(run_process(kInfer, {"-m", model, "-c", "16", "-n", "100", "-p", "Once"}), "context");
    check_one_line_error(run_process(kInfer, {"-m", "/nonexistent/model.gguf"}), "/nonexistent/model.gguf");
    check_one_line_error(run_process(kInfer, {"-p", "hello"}), "model");
    check_one_line_error(run_process(kInfer, {"-m", model, "--backend", "tpu"}), "backend");
}

TEST_CASE("damaged model files: one-line error naming the file", "[cli][errors]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    const auto bytes = greta::test::read_bytes(model);
    const auto fraction = GENERATE(0.0, 0.001, 0.01, 0.1, 0.5, 0.99);
    const auto cut = greta::test::scratch_dir() / ("cut" + std::to_string(int(fraction * 1000)) + ".gguf");
    greta::test::write_bytes(cut, bytes.data(), std::size_t(double(bytes.size()) * fraction));
    check_one_line_error(run_process(kInfer, {"-m", cut.string(), "-p", "x", "-n", "1"}), cut.string());
    check_one_line_error(run_process(kInfer, {"--info", "-m", cut.string()}), cut.string());
}

TEST_CASE("--validate on a build without a GPU says so and exits 2", "[cli][validate]") {
    if (GRETA_GPU_BUILD) SKIP("GPU build: --validate runs for real (see tests/gpu)");
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    auto r = run_process(kInfer, {"--validate", "-m", model, "-p", "Once"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, ContainsSubstring("needs a GPU"));
}

TEST_CASE("--profile on a build without a GPU says so and exits 2", "[cli][profile]") {
    if (GRETA_GPU_BUILD) SKIP("GPU build: --profile is exercised on the device by scripts/verify_kpis.sh");
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    auto r = run_process(kInfer, {"--profile", "-m", model, "-n", "8"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, ContainsSubstring("needs a GPU"));
}
