// open_model_file: dispatch by content and name, the printable metadata, and binding the
// result to model roles (missing tensors and wrong shapes named).
#include <catch2/catch_test_macros.hpp>

#include <filesystem>

#include <greta/io/gguf_writer.hpp>
#include <greta/io/open_model_file.hpp>
#include <greta/model/weights.hpp>

#include "io_test_util.hpp"
#include "shared_files.hpp"

using namespace greta;
using namespace greta::io;
using greta::test::Bytes;
namespace fs = std::filesystem;

TEST_CASE("open_model_file reads GGUF by content, whatever the name", "[io][open]") {
    GRETA_SHARED_OR_SKIP(path, "models/stories260K-f32.gguf");
    const auto renamed = test::scratch_dir() / "stories.bin";
    fs::copy_file(path, renamed, fs::copy_options::overwrite_existing);
    for (const auto& p : {path, renamed}) {
        const ModelFile mf = open_model_file(p);
        CHECK(mf.format == FileFormat::Gguf);
        REQUIRE(mf.gguf);
        CHECK(mf.tensors.size() == 48);
        CHECK(mf.name == "llama");
        CHECK(mf.config.max_context == 128);
        bool has_arch = false;
        for (const auto& [k, v] : mf.metadata) has_arch |= k == "general.architecture" && v == "llama";
        CHECK(has_arch);
        // Binding by role validates every shape against the config.
        const auto w = model::bind_weights(mf.config, mf.rope_style, mf.tensors, mf.path);
        CHECK(w.layers.size() == 5);
    }
}

TEST_CASE("open_model_file reads llama2.c checkpoints by size, whatever the name", "[io][open]") {
    GRETA_SHARED_OR_SKIP(path, "models/stories260K.bin");
    const auto renamed = test::scratch_dir() / "stories260K.weights";
    fs::copy_file(path, renamed, fs::copy_options::overwrite_existing);
    for (const auto& p : {path, renamed}) {
        const ModelFile mf = open_model_file(p);
        CHECK(mf.format == FileFormat::Llama2C);
        CHECK(mf.gguf == nullptr);
        CHECK(mf.config.max_context == 512);
        const auto w = model::bind_weights(mf.config, mf.rope_style, mf.tensors, mf.path);
        CHECK(w.layers.size() == 5);
    }
}

TEST_CASE("open_model_file rejects what it cannot read, naming the file", "[io][open]") {
    GRETA_REQUIRE_ERROR(open_model_file(test::scratch_dir() / "absent.gguf"), "absent.gguf", "no such file");
    const auto text = test::scratch_dir() / "notes.txt";
    std::ofstream(text) << "these are not weights, just some text that is long enough\n";
    GRETA_REQUIRE_ERROR(open_model_file(text), "notes.txt", "unrecognized model file format");
    const auto empty = test::scratch_dir() / "empty.dat";
    std::ofstream(empty).flush();
    GRETA_REQUIRE_ERROR(open_model_file(empty), "empty.dat", "unrecognized");
    const auto small_bin = test::scratch_dir() / "small.bin";
    std::ofstream(small_bin) << "abc";
    GRETA_REQUIRE_ERROR(open_model_file(small_bin), "small.bin", "llama2.c header needs 28 bytes");
}

namespace {
/// A stories260K GGUF rewritten with one tensor dropped or reshaped.
fs::path rewrite_stories(const fs::path& src, const std::string& out_name, const std::string& drop,
                         const std::string& reshape) {
    const auto g = GgufFile::open(src);
    GgufWriter w;
    for (const auto& [k, v] : g->metadata()) w.add(k, v);
    for (const auto& t : g->tensors()) {
        if (t.name == drop) continue;
        std::vector<std::uint64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
        if (t.name == reshape) std::swap(ne[0], ne[1]);
        w.add_tensor(t.name, t.type, ne, std::span<const std::byte>(t.data, t.n_bytes));
    }
    const auto out = test::scratch_dir() / out_name;
    w.write(out);
    return out;
}
}  // namespace

TEST_CASE("missing required tensors and shape mismatches are named", "[io][open]") {
    GRETA_SHARED_OR_SKIP(path, "models/stories260K-f32.gguf");
    {
        const ModelFile mf = open_model_file(rewrite_stories(path, "no-ffn-up.gguf", "blk.3.ffn_up.weight", ""));
        CHECK(mf.tensors.size() == 47);
        GRETA_REQUIRE_ERROR(model::bind_weights(mf.config, mf.rope_style, mf.tensors, mf.path), "no-ffn-up.gguf",
                            "missing required tensor", "'blk.3.ffn_up.weight'");
    }
    {
        const ModelFile mf = open_model_file(rewrite_stories(path, "k-transposed.gguf", "", "blk.1.attn_k.weight"));
        GRETA_REQUIRE_ERROR(model::bind_weights(mf.config, mf.rope_style, mf.tensors, mf.path), "k-transposed.gguf",
                            "shape", "'blk.1.attn_k.weight'");
    }
    {
        // Without the embedding the vocabulary still comes from the tokenizer keys.
        const ModelFile mf = open_model_file(rewrite_stories(path, "no-embd.gguf", "token_embd.weight", ""));
        CHECK(mf.config.vocab_size == 512);
        GRETA_REQUIRE_ERROR(model::bind_weights(mf.config, mf.rope_style, mf.tensors, mf.path), "no-embd.gguf",
                            "missing required tensor", "'token_embd.weight'");
    }
}
