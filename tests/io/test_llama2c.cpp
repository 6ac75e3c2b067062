// llama2.c checkpoints: stories260K.bin imports to exactly the tensors llama.cpp's converter
// wrote into stories260K-f32.gguf; inconsistent sizes and headers are reported.
#include <catch2/catch_test_macros.hpp>

#include <cstring>
#include <set>

#include <greta/config/describe.hpp>
#include <greta/io/gguf.hpp>
#include <greta/io/gguf_config.hpp>
#include <greta/io/llama2c.hpp>
#include <greta/io/open_model_file.hpp>

#include "io_test_util.hpp"
#include "shared_files.hpp"

using namespace greta;
using namespace greta::io;
using greta::test::Bytes;

TEST_CASE("stories260K.bin imports bit for bit as the converted GGUF", "[io][llama2c]") {
    GRETA_SHARED_OR_SKIP(bin, "models/stories260K.bin");
    GRETA_SHARED_OR_SKIP(gguf_path, "models/stories260K-f32.gguf");
    const ModelFile mf = open_llama2c(bin);
    const auto g = GgufFile::open(gguf_path);

    CHECK(mf.format == FileFormat::Llama2C);
    CHECK(mf.rope_style == RopeStyle::AdjacentPairs);
    REQUIRE(mf.tensors.size() == g->tensors().size());
    std::set<std::string> seen;
    for (const auto& ref : g->tensors()) {
        INFO("tensor " << ref.name);
        const TensorView* t = mf.find(ref.name);
        REQUIRE(t);
        seen.insert(ref.name);
        CHECK(t->type == ref.type);
        CHECK(t->n_dims == ref.n_dims);
        CHECK(t->ne == ref.ne);
        REQUIRE(t->n_bytes == ref.n_bytes);
        CHECK(std::memcmp(t->data, ref.data, ref.n_bytes) == 0);
    }
    CHECK(seen.size() == mf.tensors.size());

    // The same hyperparameters but the trained context: the checkpoint says 512, the GGUF 128.
    const auto diffs = compare_configs(config_from_gguf(*g), mf.config);
    REQUIRE(diffs.size() == 1);
    CHECK(diffs[0].field == "max_context");
    CHECK(diffs[0].expected == "128");
    CHECK(diffs[0].actual == "512");
    CHECK(mf.config.tied_embeddings);  // positive vocab_size: shared classifier
}

TEST_CASE("llama2.c header and file size are checked", "[io][llama2c][damage]") {
    GRETA_SHARED_OR_SKIP(bin, "models/stories260K.bin");
    const Bytes good = test::read_file_bytes(bin);
    auto write = [](const std::string& name, const Bytes& b) {
        const auto p = test::scratch_dir() / name;
        test::write_file_bytes(p, b);
        return p;
    };

    SECTION("truncated by one float") {
        Bytes b(good.begin(), good.end() - 4);
        GRETA_REQUIRE_ERROR(open_llama2c(write("short.bin", b)), "short.bin", "does not match the 1056540 bytes",
                            "truncated");
    }
    SECTION("trailing bytes") {
        Bytes b = good;
        b.resize(b.size() + 4);
        GRETA_REQUIRE_ERROR(open_llama2c(write("long.bin", b)), "long.bin", "file size 1056544");
    }
    SECTION("negative vocab_size demands a separate classifier") {
        Bytes b = good;
        test::poke<std::int32_t>(b, 20, -512);
        GRETA_REQUIRE_ERROR(open_llama2c(write("signed.bin", b)), "signed.bin", "with a separate classifier");
        // ...and appending one (512 x 64 floats) makes a valid untied model.
        Bytes wcls(512 * 64 * 4);
        for (std::size_t i = 0; i < wcls.size(); ++i) wcls[i] = std::byte(i * 7);
        b.insert(b.end(), wcls.begin(), wcls.end());
        const ModelFile mf = open_llama2c(write("untied.bin", b));
        CHECK_FALSE(mf.config.tied_embeddings);
        CHECK(mf.config.vocab_size == 512);
        const TensorView* out = mf.find("output.weight");
        REQUIRE(out);
        CHECK(std::memcmp(out->data, wcls.data(), wcls.size()) == 0);
    }
    SECTION("bad header fields") {
        Bytes b = good;
        test::poke<std::int32_t>(b, 12, 0);  // n_heads
        GRETA_REQUIRE_ERROR(open_llama2c(write("heads0.bin", b)), "heads0.bin", "n_heads is 0", "at offset 12");
        b = good;
        test::poke<std::int32_t>(b, 12, 7);  // 64 not divisible by 7
        GRETA_REQUIRE_ERROR(open_llama2c(write("heads7.bin", b)), "heads7.bin", "not a multiple of n_heads 7");
        b = good;
        test::poke<std::int32_t>(b, 16, 3);  // 8 heads over 3 KV heads
        GRETA_REQUIRE_ERROR(open_llama2c(write("kv3.bin", b)), "kv3.bin", "n_kv_heads 3");
        b = good;
        test::poke<std::int32_t>(b, 0, 0x7fffffff);  // absurd dim: size overflows nothing, mismatches
        GRETA_REQUIRE_ERROR(open_llama2c(write("dim.bin", b)), "dim.bin");
    }
    SECTION("shorter than a header") {
        GRETA_REQUIRE_ERROR(open_llama2c(write("tiny.bin", Bytes(10))), "tiny.bin", "28 bytes");
    }
}
