// Reading real GGUF files from ../shared: metadata, hyperparameters, tensor tables and views.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cstring>
#include <set>

#include <greta/config/presets.hpp>
#include <greta/io/gguf.hpp>
#include <greta/io/gguf_config.hpp>
#include <greta/io/gguf_writer.hpp>
#include <greta/io/tensor_elements.hpp>

#include "io_test_util.hpp"
#include "shared_files.hpp"

using namespace greta;
using namespace greta::io;
using greta::test::Bytes;

TEST_CASE("stories260K GGUF: header, metadata and quirks", "[io][gguf]") {
    GRETA_SHARED_OR_SKIP(path, "models/stories260K-f32.gguf");
    const auto g = GgufFile::open(path);
    CHECK(g->version() == 3);
    CHECK(g->alignment() == 32);
    CHECK(g->tensors().size() == 3 + 5 * 9);  // embd, norm, output + 9 per layer
    CHECK(g->get_string("general.architecture") == "llama");

    const auto tokens = g->get_string_array("tokenizer.ggml.tokens");
    REQUIRE(tokens.size() == 512);
    // SentencePiece's fixed layout: <unk>, <s>, </s>, then the 256 byte tokens.
    CHECK(tokens[0] == "<unk>");
    CHECK(tokens[1] == "<s>");
    CHECK(tokens[2] == "</s>");
    CHECK(tokens[3] == "<0x00>");
    CHECK(tokens[3 + 255] == "<0xFF>");
    const auto types = g->get_int_array("tokenizer.ggml.token_type");
    REQUIRE(types.size() == 512);
    CHECK(types[0] == 2);   // unknown
    CHECK(types[1] == 3);   // control
    CHECK(types[3] == 6);   // byte
    CHECK(g->get_float_array("tokenizer.ggml.scores").size() == 512);

    // The misspelled key is kept as written and does not disturb anything.
    CHECK(g->find("tokenizer.ggml.seperator_token_id") != nullptr);
    CHECK(g->get_uint("tokenizer.ggml.bos_token_id") == 1u);
    CHECK(g->get_uint("no.such.key") == std::nullopt);
    CHECK(g->get_string_array("no.such.key").empty());

    // Mistyped access names the key.
    GRETA_REQUIRE_ERROR(g->get_uint("general.architecture"), "general.architecture", "expected a non-negative integer",
                        "stories260K-f32.gguf");
    GRETA_REQUIRE_ERROR(g->get_string_array("tokenizer.ggml.scores"), "tokenizer.ggml.scores", "array of strings");
}

TEST_CASE("stories260K GGUF: hyperparameters", "[io][gguf]") {
    GRETA_SHARED_OR_SKIP(path, "models/stories260K-f32.gguf");
    const auto c = config_from_gguf(*GgufFile::open(path));
    // From the model card (shared/README.md): dim 64, hidden 172, 5 layers, 8 heads, 4 KV
    // heads, vocab 512; this GGUF says context_length 128.
    CHECK(c.dim == 64);
    CHECK(c.ffn_dim == 172);
    CHECK(c.n_layers == 5);
    CHECK(c.n_heads == 8);
    CHECK(c.n_kv_heads == 4);
    CHECK(c.head_dim == 8);
    CHECK(c.vocab_size == 512);
    CHECK(c.max_context == 128);
    CHECK(c.rope_theta == 10000.0f);
    CHECK(c.norm_eps == 1e-5f);
    CHECK(c.tied_embeddings);  // output.weight is a byte copy of the embedding
}

TEST_CASE("stories260K GGUF: tensor table and views", "[io][gguf]") {
    GRETA_SHARED_OR_SKIP(path, "models/stories260K-f32.gguf");
    const auto g = GgufFile::open(path);
    const Bytes file = test::read_file_bytes(path);
    std::set<std::string> names;
    for (const auto& t : g->tensors()) {
        names.insert(t.name);
        CHECK(t.type == DType::F32);
        CHECK(t.n_bytes == t.n_elements() * 4);
        const std::uint64_t off = g->tensor_file_offset(t);
        CHECK(off % 32 == 0);
        CHECK(off + t.n_bytes <= file.size());
        // The view shows exactly the file's bytes at that offset.
        CHECK(std::memcmp(t.data, file.data() + off, t.n_bytes) == 0);
    }
    CHECK(names.size() == g->tensors().size());
    const TensorView* embd = g->find_tensor("token_embd.weight");
    REQUIRE(embd);
    CHECK(embd->n_dims == 2);
    CHECK(embd->ne[0] == 64);   // contiguous row = embedding width
    CHECK(embd->ne[1] == 512);  // one row per token
    const TensorView* k = g->find_tensor("blk.4.attn_k.weight");
    REQUIRE(k);
    CHECK(k->ne[0] == 64);
    CHECK(k->ne[1] == 32);  // 4 KV heads x head_dim 8
    const TensorView* norm = g->find_tensor("output_norm.weight");
    REQUIRE(norm);
    CHECK(norm->n_dims == 1);
    CHECK(g->find_tensor("blk.5.attn_q.weight") == nullptr);

    // Typed access: float elements of F32 tensors, with the type checked.
    const auto values = tensor_elements<float>(*norm, g->path());
    CHECK(values.size() == 64);
    float first;
    std::memcpy(&first, norm->data, 4);
    CHECK(values[0] == first);
    GRETA_REQUIRE_ERROR(tensor_elements<std::uint16_t>(*norm, g->path()), "stories260K-f32.gguf",
                        "'output_norm.weight'", "not F16/BF16");

    // The last tensor ends exactly at the end of the file: its bytes are the file's tail.
    const TensorView& last = g->tensors().back();
    CHECK(std::memcmp(last.data, file.data() + file.size() - last.n_bytes, last.n_bytes) == 0);
}

TEST_CASE("llama.cpp-written F16 GGUF with the full Llama-2 vocabulary", "[io][gguf]") {
    GRETA_SHARED_OR_SKIP(path, "models/llama2-tiny-random-f16.gguf");
    const auto g = GgufFile::open(path);
    CHECK(g->get_string_array("tokenizer.ggml.tokens").size() == 32000);
    const auto c = config_from_gguf(*g);
    CHECK(c.dim == 8);
    CHECK(c.n_layers == 1);
    CHECK(c.n_heads == 2);
    CHECK(c.n_kv_heads == 2);
    CHECK(c.head_dim == 4);
    CHECK(c.ffn_dim == 32);
    CHECK(c.vocab_size == 32000);
    CHECK(c.max_context == 4096);
    CHECK_FALSE(c.tied_embeddings);  // random, separate output matrix
    const TensorView* q = g->find_tensor("blk.0.attn_q.weight");
    REQUIRE(q);
    CHECK(q->type == DType::F16);
    CHECK(q->n_bytes == 8 * 8 * 2);
    CHECK(g->find_tensor("blk.0.attn_norm.weight")->type == DType::F32);
}

TEST_CASE("quantized GGUF: Q4_K and Q6_K tensors mixed like Q4_K_M", "[io][gguf]") {
    GRETA_SHARED_OR_SKIP(path, "models/synthetic-tiny-q4_k_m.gguf");
    const auto g = GgufFile::open(path);
    bool has_q4k = false, has_q6k = false;
    for (const auto& t : g->tensors()) {
        has_q4k |= t.type == DType::Q4_K;
        has_q6k |= t.type == DType::Q6_K;
        if (t.type == DType::Q4_K) CHECK(t.n_bytes == t.n_elements() / 256 * 144);
        if (t.type == DType::Q6_K) CHECK(t.n_bytes == t.n_elements() / 256 * 210);
    }
    CHECK(has_q4k);
    CHECK(has_q6k);
    const auto c = config_from_gguf(*g);
    CHECK(c.dim == 256);
    CHECK(c.ffn_dim == 768);
    CHECK(c.n_layers == 2);
    CHECK(c.n_heads == 4);
    CHECK(c.n_kv_heads == 2);
    CHECK(c.vocab_size == 512);
}

TEST_CASE("vocabulary-only GGUF has Llama-2-7B hyperparameters and no tensors", "[io][gguf]") {
    GRETA_SHARED_OR_SKIP(path, "models/llama2-vocab.gguf");
    const auto g = GgufFile::open(path);
    CHECK(g->tensors().empty());
    CHECK(g->get_bool("tokenizer.ggml.add_bos_token") == true);
    CHECK(config_from_gguf(*g) == Llama2_7B::cfg);
}

namespace {
/// A minimal llama GGUF with a tiny model's keys, to vary one key at a time.
greta::io::GgufWriter minimal_llama(std::string arch = "llama") {
    greta::io::GgufWriter w;
    w.add_string("general.architecture", arch);
    w.add_uint32(arch + ".embedding_length", 16);
    w.add_uint32(arch + ".block_count", 2);
    w.add_uint32(arch + ".feed_forward_length", 40);
    w.add_uint32(arch + ".attention.head_count", 4);
    w.add_uint32(arch + ".context_length", 256);
    w.add_tensor("token_embd.weight", DType::F32, {16, 33}, Bytes(16 * 33 * 4));
    return w;
}
std::shared_ptr<const GgufFile> parse(const greta::io::GgufWriter& w, const char* name) {
    return GgufFile::parse_bytes(w.to_bytes(), name);
}
}  // namespace

TEST_CASE("absent optional keys take Llama defaults", "[io][gguf]") {
    const auto c = config_from_gguf(*parse(minimal_llama(), "minimal.gguf"));
    CHECK(c.n_kv_heads == 4);      // = head_count
    CHECK(c.head_dim == 16 / 4);   // = dim / heads
    CHECK(c.rope_theta == 10000.0f);
    CHECK(c.norm_eps == 1e-5f);
    CHECK(c.vocab_size == 33);     // token_embd rows, with no tokenizer in the file
    CHECK(c.tied_embeddings);      // no output.weight
}

TEST_CASE("hyperparameter keys of any integer or float type are accepted", "[io][gguf]") {
    GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_uint64("llama.embedding_length", 16);
    w.add_int32("llama.block_count", 2);
    w.add_uint16("llama.feed_forward_length", 40);
    w.add_uint8("llama.attention.head_count", 4);
    w.add_int64("llama.attention.head_count_kv", 2);
    w.add_uint32("llama.context_length", 256);
    w.add_float64("llama.rope.freq_base", 500000.0);
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
    w.add_uint32("llama.vocab_size", 99);
    const auto c = config_from_gguf(*parse(w, "types.gguf"));
    CHECK(c.dim == 16);
    CHECK(c.n_layers == 2);
    CHECK(c.ffn_dim == 40);
    CHECK(c.n_kv_heads == 2);
    CHECK(c.rope_theta == 500000.0f);
    CHECK(c.norm_eps == 1e-6f);
    CHECK(c.vocab_size == 99);
    CHECK_FALSE(c.tied_embeddings);  // no weights at all: nothing says tied
}

TEST_CASE("unsupported architecture and missing or bad keys are named", "[io][gguf]") {
    GRETA_REQUIRE_ERROR(config_from_gguf(*parse(minimal_llama("gpt2"), "gpt2.gguf")), "gpt2.gguf",
                        "unsupported architecture 'gpt2'");
    {
        GgufWriter w;
        w.add_string("general.name", "no arch");
        GRETA_REQUIRE_ERROR(config_from_gguf(*parse(w, "noarch.gguf")), "noarch.gguf", "general.architecture",
                            "missing");
    }
    {
        GgufWriter w;
        w.add_string("general.architecture", "llama");
        w.add_uint32("llama.embedding_length", 16);
        GRETA_REQUIRE_ERROR(config_from_gguf(*parse(w, "nolayers.gguf")), "nolayers.gguf", "llama.block_count",
                            "missing required");
    }
    {
        auto w = minimal_llama();
        w.add_uint32("llama.attention.head_count_kv", 3);  // 4 heads cannot share 3 KV heads
        GRETA_REQUIRE_ERROR(config_from_gguf(*parse(w, "gqa.gguf")), "gqa.gguf", "n_kv_heads");
    }
    {
        auto w = minimal_llama();
        w.add_string("llama.rope.freq_base", "ten thousand");
        GRETA_REQUIRE_ERROR(config_from_gguf(*parse(w, "strtheta.gguf")), "strtheta.gguf", "llama.rope.freq_base",
                            "expected a number");
    }
    {
        auto w = minimal_llama();
        w.add_int32("llama.rope.dimension_count", -8);
        GRETA_REQUIRE_ERROR(config_from_gguf(*parse(w, "neg.gguf")), "neg.gguf", "llama.rope.dimension_count");
    }
}
