// SafeTensors + config.json: a checkpoint the test writes from stories260K (HF names, HF
// rotate-half q/k order, mixed F32/F16/BF16) must read back as the GGUF's tensors.
#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include <greta/core/half.hpp>
#include <greta/io/gguf.hpp>
#include <greta/io/gguf_config.hpp>
#include <greta/io/hf_checkpoint.hpp>
#include <greta/io/open_model_file.hpp>
#include <greta/io/safetensors.hpp>

#include "io_test_util.hpp"
#include "shared_files.hpp"

using namespace greta;
using namespace greta::io;
using greta::test::Bytes;
namespace fs = std::filesystem;

namespace {

struct StTensor {
    std::string name;
    std::string dtype;
    std::vector<std::uint64_t> shape;
    Bytes data;
};

/// A .safetensors writer written from the format description (test side, independent of the
/// reader). `pad` rounds the header to 8 bytes as the reference writer does.
void write_safetensors(const fs::path& path, const std::vector<StTensor>& tensors, bool pad = true,
                       const nlohmann::json& extra = nullptr) {
    nlohmann::json header = nlohmann::json::object();
    header["__metadata__"] = {{"format", "pt"}};
    std::uint64_t offset = 0;
    for (const auto& t : tensors) {
        header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
        offset += t.data.size();
    }
    if (!extra.is_null())
        for (const auto& [k, v] : extra.items()) header[k] = v;
    std::string text = header.dump();
    while (pad && text.size() % 8) text += ' ';
    Bytes out(8);
    test::poke<std::uint64_t>(out, 0, text.size());
    for (char c : text) out.push_back(std::byte(c));
    for (const auto& t : tensors) out.insert(out.end(), t.data.begin(), t.data.end());
    test::write_file_bytes(path, out);
}

/// GGUF name -> HF name (the test's own table, the inverse of the reader's mapping).
std::string hf_name(const std::string& gguf) {
    if (gguf == "token_embd.weight") return "model.embed_tokens.weight";
    if (gguf == "output_norm.weight") return "model.norm.weight";
    if (gguf == "output.weight") return "lm_head.weight";
    static const std::map<std::string, std::string> roles{
        {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
        {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"},
        {"ffn_down", "mlp.down_proj"}, {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"}};
    const auto dot1 = gguf.find('.', 4);
    const std::string layer = gguf.substr(4, dot1 - 4);
    const std::string role = gguf.substr(dot1 + 1, gguf.rfind('.') - dot1 - 1);
    return "model.layers." + layer + "." + roles.at(role) + ".weight";
}

/// GGUF q/k rows -> HF rows. Per head of size hd, GGUF rows 2i and 2i+1 are HF rows i and
/// i + hd/2 (llama.cpp's converter permutes HF -> GGUF this way).
std::vector<float> gguf_to_hf_rows(const float* w, std::size_t rows, std::size_t cols, std::size_t hd) {
    std::vector<float> out(rows * cols);
    for (std::size_t h = 0; h < rows / hd; ++h)
        for (std::size_t i = 0; i < hd / 2; ++i) {
            std::memcpy(&out[(h * hd + i) * cols], &w[(h * hd + 2 * i) * cols], cols * 4);
            std::memcpy(&out[(h * hd + i + hd / 2) * cols], &w[(h * hd + 2 * i + 1) * cols], cols * 4);
        }
    return out;
}

/// The inverse, written separately: HF row r of head h goes to GGUF row 2r (first half) or
/// 2(r - hd/2) + 1 (second half).
std::vector<float> hf_to_gguf_rows(const float* w, std::size_t rows, std::size_t cols, std::size_t hd) {
    std::vector<float> out(rows * cols);
    for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t h = r / hd, j = r % hd;
        const std::size_t dst = h * hd + (j < hd / 2 ? 2 * j : 2 * (j - hd / 2) + 1);
        std::memcpy(&out[dst * cols], &w[r * cols], cols * 4);
    }
    return out;
}

std::vector<float> floats_of(const TensorView& t) {
    std::vector<float> v(t.n_elements());
    std::memcpy(v.data(), t.data, t.n_bytes);
    return v;
}

Bytes to_half_bytes(const std::vector<float>& v, bool bf16) {
    Bytes b(v.size() * 2);
    for (std::size_t i = 0; i < v.size(); ++i) {
        const std::uint16_t h = bf16 ? f32_to_bf16(v[i]) : f32_to_fp16(v[i]);
        std::memcpy(b.data() + 2 * i, &h, 2);
    }
    return b;
}

const char* const kF16Tensor = "blk.0.ffn_norm.weight";
const char* const kBF16Tensor = "blk.2.ffn_up.weight";

/// HF tensors of stories260K: all F32 but one F16 and one BF16 tensor; q/k in HF order.
std::vector<StTensor> hf_tensors_from(const GgufFile& g, bool with_lm_head) {
    const auto cfg = config_from_gguf(g);
    std::vector<StTensor> out;
    for (const auto& t : g.tensors()) {
        if (t.name == "output.weight" && !with_lm_head) continue;
        StTensor s;
        s.name = hf_name(t.name);
        for (std::uint32_t d = t.n_dims; d-- > 0;) s.shape.push_back(t.ne[d]);  // [out, in]
        std::vector<float> v = floats_of(t);
        const bool is_q = t.name.find("attn_q") != std::string::npos, is_k = t.name.find("attn_k") != std::string::npos;
        if (is_q || is_k) v = gguf_to_hf_rows(v.data(), t.ne[1], t.ne[0], cfg.head_dim);
        if (t.name == kF16Tensor || t.name == kBF16Tensor) {
            s.dtype = t.name == kF16Tensor ? "F16" : "BF16";
            s.data = to_half_bytes(v, t.name == kBF16Tensor);
        } else {
            s.dtype = "F32";
            s.data = test::f32_bytes(v);
        }
        out.push_back(std::move(s));
    }
    return out;
}

nlohmann::json hf_config_for(const ModelConfig& c) {
    return {{"architectures", {"LlamaForCausalLM"}},
            {"model_type", "llama"},
            {"hidden_size", c.dim},
            {"num_hidden_layers", c.n_layers},
            {"num_attention_heads", c.n_heads},
            {"num_key_value_heads", c.n_kv_heads},
            {"intermediate_size", c.ffn_dim},
            {"vocab_size", c.vocab_size},
            {"max_position_embeddings", c.max_context},
            {"rope_theta", 10000.0},
            {"rms_norm_eps", 1e-5},
            {"rope_scaling", nullptr},
            {"hidden_act", "silu"},
            {"tie_word_embeddings", c.tied_embeddings}};
}

void write_json(const fs::path& p, const nlohmann::json& j) {
    std::ofstream(p) << j.dump(2);
}

fs::path fresh_dir(const std::string& name) {
    const auto d = test::scratch_dir() / name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

/// Every tensor of `mf` equals the GGUF's after undoing the HF q/k order.
void check_matches_gguf(const ModelFile& mf, const GgufFile& g) {
    const auto cfg = config_from_gguf(g);
    for (const auto& t : mf.tensors) {
        INFO("tensor " << t.name);
        const TensorView* ref = g.find_tensor(t.name);
        REQUIRE(ref);
        CHECK(t.ne == ref->ne);
        CHECK(t.n_dims == ref->n_dims);
        const std::vector<float> expected = floats_of(*ref);
        if (t.type == DType::F32) {
            std::vector<float> got = floats_of(t);
            if (t.name.find("attn_q") != std::string::npos || t.name.find("attn_k") != std::string::npos)
                got = hf_to_gguf_rows(got.data(), t.ne[1], t.ne[0], cfg.head_dim);
            CHECK(std::memcmp(got.data(), expected.data(), t.n_bytes) == 0);
        } else {
            const bool bf16 = t.name == kBF16Tensor;
            CHECK(t.type == (bf16 ? DType::BF16 : DType::F16));
            REQUIRE(t.name == (bf16 ? kBF16Tensor : kF16Tensor));
            const Bytes want = to_half_bytes(expected, bf16);
            CHECK(std::memcmp(t.data, want.data(), want.size()) == 0);
            // And the values are the GGUF's within half precision.
            for (std::size_t i = 0; i < expected.size(); ++i) {
                std::uint16_t h;
                std::memcpy(&h, t.data + 2 * i, 2);
                const float v = bf16 ? bf16_to_f32(h) : fp16_to_f32(h);
                CHECK(std::fabs(v - expected[i]) <= std::fabs(expected[i]) * (bf16 ? 1.0f / 128 : 1.0f / 1024) + 1e-7f);
            }
        }
    }
}

}  // namespace

TEST_CASE("HF -> GGUF tensor names", "[io][safetensors]") {
    CHECK(hf_to_gguf_name("model.embed_tokens.weight") == "token_embd.weight");
    CHECK(hf_to_gguf_name("model.norm.weight") == "output_norm.weight");
    CHECK(hf_to_gguf_name("lm_head.weight") == "output.weight");
    CHECK(hf_to_gguf_name("model.layers.0.self_attn.q_proj.weight") == "blk.0.attn_q.weight");
    CHECK(hf_to_gguf_name("model.layers.31.self_attn.k_proj.weight") == "blk.31.attn_k.weight");
    CHECK(hf_to_gguf_name("model.layers.7.self_attn.v_proj.weight") == "blk.7.attn_v.weight");
    CHECK(hf_to_gguf_name("model.layers.7.self_attn.o_proj.weight") == "blk.7.attn_output.weight");
    CHECK(hf_to_gguf_name("model.layers.12.mlp.gate_proj.weight") == "blk.12.ffn_gate.weight");
    CHECK(hf_to_gguf_name("model.layers.12.mlp.up_proj.weight") == "blk.12.ffn_up.weight");
    CHECK(hf_to_gguf_name("model.layers.12.mlp.down_proj.weight") == "blk.12.ffn_down.weight");
    CHECK(hf_to_gguf_name("model.layers.3.input_layernorm.weight") == "blk.3.attn_norm.weight");
    CHECK(hf_to_gguf_name("model.layers.3.post_attention_layernorm.weight") == "blk.3.ffn_norm.weight");
    CHECK_FALSE(hf_to_gguf_name("model.layers.3.self_attn.q_proj.bias"));
    CHECK_FALSE(hf_to_gguf_name("model.layers.x.mlp.up_proj.weight"));
    CHECK_FALSE(hf_to_gguf_name("model.layers.01.mlp.up_proj.weight"));
    CHECK_FALSE(hf_to_gguf_name("model.layers..mlp.up_proj.weight"));
    CHECK_FALSE(hf_to_gguf_name("transformer.wte.weight"));
    CHECK(hf_tensor_is_ignored("model.layers.0.self_attn.rotary_emb.inv_freq"));
    CHECK_FALSE(hf_tensor_is_ignored("model.layers.0.self_attn.q_proj.weight"));
}

TEST_CASE("the permutation helpers of this test are inverses", "[io][safetensors]") {
    std::vector<float> w(3 * 8 * 2);  // 3 heads of hd 8, 2 columns
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(i);
    const auto hf = gguf_to_hf_rows(w.data(), 24, 2, 8);
    CHECK(hf[(0 * 8 + 4) * 2] == w[(0 * 8 + 1) * 2]);  // HF row i + hd/2 <- GGUF row 2i + 1
    CHECK(hf_to_gguf_rows(hf.data(), 24, 2, 8) == w);
}

TEST_CASE("SafeTensors checkpoint written from stories260K reads back as the GGUF", "[io][safetensors]") {
    GRETA_SHARED_OR_SKIP(path, "models/stories260K-f32.gguf");
    const auto g = GgufFile::open(path);
    const ModelConfig cfg = config_from_gguf(*g);
    const fs::path dir = fresh_dir("st-stories");
    write_safetensors(dir / "model.safetensors", hf_tensors_from(*g, false));
    write_json(dir / "config.json", hf_config_for(cfg));

    for (const fs::path& entry : {dir, dir / "model.safetensors", dir / "config.json"}) {
        INFO("opened as " << entry);
        const ModelFile mf = open_model_file(entry);
        CHECK(mf.format == FileFormat::SafeTensors);
        CHECK(mf.rope_style == RopeStyle::RotateHalf);
        CHECK(mf.config == cfg);
        CHECK(mf.tensors.size() == g->tensors().size() - 1);  // tied: no lm_head
        CHECK(mf.find("output.weight") == nullptr);
        check_matches_gguf(mf, *g);
    }
    // Tied output in the GGUF is the embedding itself.
    const TensorView* out = g->find_tensor("output.weight");
    const TensorView* embd = g->find_tensor("token_embd.weight");
    CHECK(std::memcmp(out->data, embd->data, out->n_bytes) == 0);
}

TEST_CASE("sharded checkpoint via model.safetensors.index.json, untied lm_head", "[io][safetensors]") {
    GRETA_SHARED_OR_SKIP(path, "models/stories260K-f32.gguf");
    const auto g = GgufFile::open(path);
    ModelConfig cfg = config_from_gguf(*g);
    cfg.tied_embeddings = false;
    const fs::path dir = fresh_dir("st-sharded");
    auto tensors = hf_tensors_from(*g, true);
    const std::size_t half = tensors.size() / 2;
    const std::vector<StTensor> a(tensors.begin(), tensors.begin() + std::ptrdiff_t(half));
    const std::vector<StTensor> b(tensors.begin() + std::ptrdiff_t(half), tensors.end());
    write_safetensors(dir / "model-00001-of-00002.safetensors", a, false);  // unpadded header: misaligned data
    write_safetensors(dir / "model-00002-of-00002.safetensors", b);
    nlohmann::json index;
    for (const auto& t : a) index["weight_map"][t.name] = "model-00001-of-00002.safetensors";
    for (const auto& t : b) index["weight_map"][t.name] = "model-00002-of-00002.safetensors";
    write_json(dir / "model.safetensors.index.json", index);
    write_json(dir / "config.json", hf_config_for(cfg));

    const ModelFile mf = open_model_file(dir);
    CHECK(mf.config == cfg);
    CHECK(mf.tensors.size() == g->tensors().size());
    REQUIRE(mf.find("output.weight"));
    for (const auto& t : mf.tensors)
        CHECK(reinterpret_cast<std::uintptr_t>(t.data) % (t.type == DType::F32 ? 4 : 2) == 0);
    check_matches_gguf(mf, *g);

    // Without the index, every *.safetensors in the directory is read.
    fs::remove(dir / "model.safetensors.index.json");
    CHECK(open_model_file(dir).tensors.size() == g->tensors().size());

    // The index must agree with the shards.
    index["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors";
    write_json(dir / "model.safetensors.index.json", index);
    const bool norm_in_a = std::any_of(a.begin(), a.end(), [](const StTensor& t) { return t.name == "model.norm.weight"; });
    if (!norm_in_a)
        GRETA_REQUIRE_ERROR(open_model_file(dir), "model.safetensors.index.json", "'model.norm.weight'",
                            "does not contain it");
}

namespace {
fs::path one_tensor_file(const std::string& name, const std::vector<StTensor>& t, bool pad = true,
                         const nlohmann::json& extra = nullptr) {
    const auto p = test::scratch_dir() / name;
    write_safetensors(p, t, pad, extra);
    return p;
}
StTensor f32_tensor(std::string name, std::vector<std::uint64_t> shape) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    return {std::move(name), "F32", std::move(shape), Bytes(n * 4, std::byte{0})};
}
}  // namespace

TEST_CASE("SafeTensors header damage", "[io][safetensors][damage]") {
    const auto good = one_tensor_file("good.safetensors", {f32_tensor("x", {2, 3}), f32_tensor("y", {4})});
    {
        const auto f = SafeTensorsFile::open(good);
        REQUIRE(f->tensors().size() == 2);
        CHECK(f->find("x")->ne == std::array<std::uint64_t, 4>{3, 2, 1, 1});
        CHECK(f->metadata().size() == 1);
    }
    Bytes b = test::read_file_bytes(good);
    const std::uint64_t header_len = test::peek<std::uint64_t>(b, 0);

    SECTION("bad JSON") {
        b[8 + 1] = std::byte{'!'};
        const auto p = test::scratch_dir() / "badjson.safetensors";
        test::write_file_bytes(p, b);
        GRETA_REQUIRE_ERROR(SafeTensorsFile::open(p), "badjson.safetensors", "invalid JSON header");
    }
    SECTION("header length past the end") {
        test::poke<std::uint64_t>(b, 0, b.size());
        const auto p = test::scratch_dir() / "hdrlen.safetensors";
        test::write_file_bytes(p, b);
        GRETA_REQUIRE_ERROR(SafeTensorsFile::open(p), "hdrlen.safetensors", "header length", "exceeds");
    }
    SECTION("truncated data") {
        b.resize(8 + header_len + 10);
        const auto p = test::scratch_dir() / "trunc.safetensors";
        test::write_file_bytes(p, b);
        GRETA_REQUIRE_ERROR(SafeTensorsFile::open(p), "trunc.safetensors", "past the end");
    }
    SECTION("tiny file") {
        const auto p = test::scratch_dir() / "tiny.safetensors";
        test::write_file_bytes(p, Bytes(5));
        GRETA_REQUIRE_ERROR(SafeTensorsFile::open(p), "tiny.safetensors", "truncated file");
    }
    SECTION("offsets past the end") {
        const auto p = one_tensor_file("offsets.safetensors", {f32_tensor("x", {2})}, true,
                                       {{"z", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {8, 1000}}}}});
        GRETA_REQUIRE_ERROR(SafeTensorsFile::open(p), "offsets.safetensors", "past the end", "'z'");
    }
    SECTION("unsupported dtype") {
        const auto p = one_tensor_file("dtype.safetensors", {{"ids", "I64", {2}, Bytes(16)}});
        GRETA_REQUIRE_ERROR(SafeTensorsFile::open(p), "dtype.safetensors", "unsupported dtype I64", "'ids'");
    }
    SECTION("size does not match shape") {
        const auto p = one_tensor_file("size.safetensors", {f32_tensor("x", {2})}, true,
                                       {{"x", {{"dtype", "F32"}, {"shape", {3}}, {"data_offsets", {0, 8}}}}});
        GRETA_REQUIRE_ERROR(SafeTensorsFile::open(p), "size.safetensors", "span 8 bytes", "need 12", "'x'");
    }
    SECTION("overlapping tensors") {
        const auto p = one_tensor_file("overlap.safetensors", {f32_tensor("x", {4})}, true,
                                       {{"y", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {8, 16}}}}});
        GRETA_REQUIRE_ERROR(SafeTensorsFile::open(p), "overlap.safetensors", "overlaps");
    }
    SECTION("bad shape entries and ranks") {
        auto p = one_tensor_file("negshape.safetensors", {f32_tensor("x", {2})}, true,
                                 {{"x", {{"dtype", "F32"}, {"shape", {-2}}, {"data_offsets", {0, 8}}}}});
        GRETA_REQUIRE_ERROR(SafeTensorsFile::open(p), "negshape.safetensors", "non-negative", "'x'");
        p = one_tensor_file("rank5.safetensors", {f32_tensor("x", {1, 1, 1, 1, 2})});
        GRETA_REQUIRE_ERROR(SafeTensorsFile::open(p), "rank5.safetensors", "5 dimensions", "'x'");
        p = one_tensor_file("bigshape.safetensors", {f32_tensor("x", {2})}, true,
                            {{"x", {{"dtype", "F32"}, {"shape", {1ull << 40, 1ull << 40}}, {"data_offsets", {0, 8}}}}});
        GRETA_REQUIRE_ERROR(SafeTensorsFile::open(p), "bigshape.safetensors", "overflow", "'x'");
    }
    SECTION("duplicate names") {
        std::string text = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
        Bytes d(8);
        test::poke<std::uint64_t>(d, 0, text.size());
        for (char c : text) d.push_back(std::byte(c));
        d.resize(d.size() + 8);
        const auto p = test::scratch_dir() / "dupname.safetensors";
        test::write_file_bytes(p, d);
        GRETA_REQUIRE_ERROR(SafeTensorsFile::open(p), "dupname.safetensors", "duplicate tensor name", "'a'");
    }
}

TEST_CASE("SafeTensors random mutations give a file or a greta::Error", "[io][safetensors][damage]") {
    const auto good = one_tensor_file("mut.safetensors", {f32_tensor("x", {2, 3}), f32_tensor("y", {4})});
    const Bytes base = test::read_file_bytes(good);
    std::mt19937 rng(7);
    int errors = 0;
    for (int i = 0; i < 1000; ++i) {
        Bytes b = base;
        b[rng() % b.size()] = std::byte(rng());
        if (rng() % 4 == 0) b.resize(rng() % b.size());
        try {
            (void)SafeTensorsFile::parse(MappedFile::from_bytes(b, "mutant.safetensors"));
        } catch (const greta::Error& e) {
            CHECK(std::string(e.what()).find("mutant.safetensors") != std::string::npos);
            ++errors;
        }
    }
    CHECK(errors > 0);
}

TEST_CASE("HF checkpoint problems are reported with the file", "[io][safetensors][damage]") {
    const ModelConfig tiny{8, 1, 2, 2, 4, 16, 10, 32, 10000.0f, 1e-5f, true};
    const std::vector<StTensor> weights{f32_tensor("model.embed_tokens.weight", {10, 8})};
    SECTION("missing config.json") {
        const auto dir = fresh_dir("st-noconfig");
        write_safetensors(dir / "model.safetensors", weights);
        GRETA_REQUIRE_ERROR(open_model_file(dir), "config.json", "not found");
    }
    SECTION("not a Llama") {
        const auto dir = fresh_dir("st-mistral");
        write_safetensors(dir / "model.safetensors", weights);
        auto j = hf_config_for(tiny);
        j["architectures"] = {"MistralForCausalLM"};
        write_json(dir / "config.json", j);
        GRETA_REQUIRE_ERROR(open_model_file(dir), "config.json", "unsupported architecture 'MistralForCausalLM'");
    }
    SECTION("bad config values") {
        const auto dir = fresh_dir("st-badcfg");
        write_safetensors(dir / "model.safetensors", weights);
        auto j = hf_config_for(tiny);
        j["hidden_size"] = "eight";
        write_json(dir / "config.json", j);
        GRETA_REQUIRE_ERROR(open_model_file(dir), "config.json", "'hidden_size'");
        j = hf_config_for(tiny);
        j.erase("num_hidden_layers");
        write_json(dir / "config.json", j);
        GRETA_REQUIRE_ERROR(open_model_file(dir), "config.json", "missing required key", "'num_hidden_layers'");
        j = hf_config_for(tiny);
        j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
        write_json(dir / "config.json", j);
        GRETA_REQUIRE_ERROR(open_model_file(dir), "config.json", "RoPE scaling");
        std::ofstream(dir / "config.json") << "{ not json";
        GRETA_REQUIRE_ERROR(open_model_file(dir), "config.json", "invalid JSON");
    }
    SECTION("unknown tensor") {
        const auto dir = fresh_dir("st-unknown");
        write_safetensors(dir / "model.safetensors", {f32_tensor("model.layers.0.self_attn.q_proj.bias", {8})});
        write_json(dir / "config.json", hf_config_for(tiny));
        GRETA_REQUIRE_ERROR(open_model_file(dir), "model.safetensors", "unrecognized tensor",
                            "'model.layers.0.self_attn.q_proj.bias'");
    }
    SECTION("same tensor in two shards") {
        const auto dir = fresh_dir("st-dup");
        write_safetensors(dir / "a.safetensors", weights);
        write_safetensors(dir / "b.safetensors", weights);
        write_json(dir / "config.json", hf_config_for(tiny));
        GRETA_REQUIRE_ERROR(open_model_file(dir), "b.safetensors", "two shards", "'model.embed_tokens.weight'");
    }
    SECTION("untied without lm_head") {
        const auto dir = fresh_dir("st-nohead");
        write_safetensors(dir / "model.safetensors", weights);
        auto c = tiny;
        c.tied_embeddings = false;
        write_json(dir / "config.json", hf_config_for(c));
        GRETA_REQUIRE_ERROR(open_model_file(dir), "missing tensor lm_head.weight");
    }
    SECTION("empty directory") {
        const auto dir = fresh_dir("st-empty");
        GRETA_REQUIRE_ERROR(open_model_file(dir), "st-empty", "no *.safetensors");
    }
    SECTION("inv_freq buffers are skipped") {
        const auto dir = fresh_dir("st-invfreq");
        auto w = weights;
        w.push_back(f32_tensor("model.layers.0.self_attn.rotary_emb.inv_freq", {2}));
        write_safetensors(dir / "model.safetensors", w);
        write_json(dir / "config.json", hf_config_for(tiny));
        const auto mf = open_model_file(dir);
        CHECK(mf.tensors.size() == 1);
        CHECK(mf.config == tiny);
        CHECK(mf.name == "st-invfreq");
    }
}

TEST_CASE("config.json defaults follow transformers' LlamaConfig", "[io][safetensors]") {
    const nlohmann::json j = {{"model_type", "llama"},       {"hidden_size", 64}, {"num_hidden_layers", 2},
                              {"num_attention_heads", 4},    {"intermediate_size", 100},
                              {"vocab_size", 300}};
    const ModelConfig c = config_from_hf_json(j, "cfg.json");
    CHECK(c.n_kv_heads == 4);
    CHECK(c.head_dim == 16);
    CHECK(c.max_context == 2048);
    CHECK(c.rope_theta == 10000.0f);
    CHECK(c.norm_eps == 1e-6f);
    CHECK_FALSE(c.tied_embeddings);
}
