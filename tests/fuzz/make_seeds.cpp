// Builds the fuzzers' seed corpora from the models in ../shared (GRETA_SHARED_DIR), into the
// directory given as argv[1] (scripts/fuzz.sh passes build-fuzz/seeds): one subdirectory per
// harness. The seeds are small (libFuzzer's speed falls with input size): real files are cut
// down so that their structure (keys, value types, tensor names and types, protobuf fields)
// stays real while arrays and tensors shrink. Model bytes never enter the repository.
//
//   make_seeds OUT_DIR

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <greta/io/gguf.hpp>
#include <greta/io/gguf_writer.hpp>
#include <greta/quant/row.hpp>
#include <greta/tokenizer/protobuf.hpp>
#include <greta/tokenizer/sentencepiece_model.hpp>

#include "fuzz_common.hpp"

namespace fs = std::filesystem;
using namespace greta;
using Bytes = std::vector<std::byte>;

namespace {

void write(const fs::path& p, const void* data, std::size_t n) {
    fs::create_directories(p.parent_path());
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}
void write(const fs::path& p, const std::string& s) { write(p, s.data(), s.size()); }
void write(const fs::path& p, const Bytes& b) { write(p, b.data(), b.size()); }

/// `n` bytes of plausible tensor data: taken from `src` (cycled), else a fixed pattern.
Bytes data_bytes(std::size_t n, const std::byte* src, std::size_t src_n) {
    Bytes out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = src_n ? src[i % src_n] : std::byte(i * 37 + 11);
    return out;
}

/// A GGUF value with arrays cut to at most `keep` elements (recursively).
io::GgufValue shrunk(const io::GgufValue& v, std::size_t keep) {
    if (!v.is_array() || v.size() <= keep) return v;
    if (v.array_type() == io::GgufType::String) {
        const auto& s = v.strings();
        return io::GgufValue::string_array({s.begin(), s.begin() + static_cast<std::ptrdiff_t>(keep)});
    }
    if (v.array_type() == io::GgufType::Array) {
        std::vector<io::GgufValue> a;
        for (std::size_t i = 0; i < keep; ++i) a.push_back(shrunk(v.arrays()[i], keep));
        return io::GgufValue::array_of_arrays(std::move(a));
    }
    const std::size_t elem = io::gguf_scalar_size(v.array_type());
    const auto raw = v.raw();
    return io::GgufValue::numeric_array(v.array_type(), keep, Bytes(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(keep * elem)));
}

/// A real GGUF with every key kept (arrays shortened) and every tensor one block row long.
void shrink_gguf(const fs::path& src, const fs::path& dst, std::size_t keep) {
    const auto g = io::GgufFile::open(src);
    io::GgufWriter w(g->alignment());
    for (const auto& [key, value] : g->metadata())
        if (key != "general.alignment") w.add(key, shrunk(value, keep));
    for (const auto& t : g->tensors()) {
        const auto info = dtype_info(t.type);
        const std::uint64_t cols = info.block_values, rows = t.n_dims > 1 ? 2 : 1;
        std::vector<std::uint64_t> ne{cols};
        if (t.n_dims > 1) ne.push_back(rows);
        w.add_tensor(t.name, t.type, ne, data_bytes(rows * info.block_bytes, t.data, t.n_bytes));
    }
    write(dst, w.to_bytes());
}

/// A complete, loadable tiny Llama GGUF (dim 32, 1 layer, GQA 4/2, vocab 24) mixing F32, F16,
/// BF16 and Q8_0 weights, with a SentencePiece vocabulary.
Bytes tiny_llama_gguf(const Bytes& weights_src) {
    const std::uint32_t dim = 32, heads = 4, kv_heads = 2, head_dim = 8, ffn = 64, vocab = 24;
    io::GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_string("general.name", "fuzz-tiny");
    w.add_uint32("llama.context_length", 16);
    w.add_uint32("llama.embedding_length", dim);
    w.add_uint32("llama.block_count", 1);
    w.add_uint32("llama.feed_forward_length", ffn);
    w.add_uint32("llama.attention.head_count", heads);
    w.add_uint32("llama.attention.head_count_kv", kv_heads);
    w.add_uint32("llama.rope.dimension_count", head_dim);
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.add_float32("llama.rope.freq_base", 10000.0f);
    std::vector<std::string> tokens{"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "o", "n", "c", "e", "t", " ",
                                    "\xE2\x96\x81" "a", "on", "ce", "\xE2\x96\x81o", "nce", "\xE2\x96\x81on", "<0x0A>",
                                    "<0xFF>", "up", "u", "p", "\xE2\x96\x81up"};
    std::vector<float> scores;
    std::vector<std::int32_t> types;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        scores.push_back(-float(i));
        types.push_back(i == 0 ? 2 : i < 3 ? 3 : tokens[i].rfind("<0x", 0) == 0 ? 6 : 1);
    }
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    w.add_array<float>("tokenizer.ggml.scores", scores);
    w.add_array<std::int32_t>("tokenizer.ggml.token_type", types);
    w.add_uint32("tokenizer.ggml.bos_token_id", 1);
    w.add_uint32("tokenizer.ggml.eos_token_id", 2);
    w.add_uint32("tokenizer.ggml.unknown_token_id", 0);
    w.add_bool("tokenizer.ggml.add_bos_token", true);

    // Small finite weights (a real model's scale), stored in each tensor's own type.
    std::size_t cursor = 0;
    auto add = [&](const std::string& name, DType type, std::uint64_t cols, std::uint64_t rows) {
        std::vector<float> values(cols * rows);
        for (auto& x : values) {
            const auto b = weights_src.empty() ? std::byte(cursor * 13) : weights_src[cursor % weights_src.size()];
            x = name.find("norm") != std::string::npos ? 1.0f : (float(std::to_integer<int>(b)) - 127.5f) / 512.0f;
            ++cursor;
        }
        Bytes b(*row_bytes(type, cols) * rows);
        for (std::uint64_t r = 0; r < rows; ++r)
            quant::quantize_row(type, values.data() + r * cols, b.data() + r * *row_bytes(type, cols), cols);
        std::vector<std::uint64_t> ne{cols};
        if (rows > 1) ne.push_back(rows);
        w.add_tensor(name, type, ne, std::move(b));
    };
    add("token_embd.weight", DType::F16, dim, vocab);
    add("output_norm.weight", DType::F32, dim, 1);
    add("output.weight", DType::Q8_0, dim, vocab);
    add("blk.0.attn_norm.weight", DType::F32, dim, 1);
    add("blk.0.attn_q.weight", DType::Q8_0, dim, heads * head_dim);
    add("blk.0.attn_k.weight", DType::F16, dim, kv_heads * head_dim);
    add("blk.0.attn_v.weight", DType::BF16, dim, kv_heads * head_dim);
    add("blk.0.attn_output.weight", DType::F32, heads * head_dim, dim);
    add("blk.0.ffn_norm.weight", DType::F16, dim, 1);
    add("blk.0.ffn_gate.weight", DType::Q8_0, dim, ffn);
    add("blk.0.ffn_up.weight", DType::F16, dim, ffn);
    add("blk.0.ffn_down.weight", DType::Q8_0, ffn, dim);
    return w.to_bytes();
}

/// Hugging Face name of a GGUF Llama tensor (the inverse of io::hf_to_gguf_name).
std::string hf_name(const std::string& gguf) {
    if (gguf == "token_embd.weight") return "model.embed_tokens.weight";
    if (gguf == "output_norm.weight") return "model.norm.weight";
    if (gguf == "output.weight") return "lm_head.weight";
    const auto dot = gguf.find('.', 4);
    const std::string layer = gguf.substr(4, dot - 4), role = gguf.substr(dot + 1);
    const std::pair<const char*, const char*> roles[] = {
        {"attn_q.weight", "self_attn.q_proj.weight"}, {"attn_k.weight", "self_attn.k_proj.weight"},
        {"attn_v.weight", "self_attn.v_proj.weight"}, {"attn_output.weight", "self_attn.o_proj.weight"},
        {"ffn_gate.weight", "mlp.gate_proj.weight"},  {"ffn_up.weight", "mlp.up_proj.weight"},
        {"ffn_down.weight", "mlp.down_proj.weight"},  {"attn_norm.weight", "input_layernorm.weight"},
        {"ffn_norm.weight", "post_attention_layernorm.weight"}};
    for (const auto& [from, to] : roles)
        if (role == from) return "model.layers." + layer + "." + to;
    return gguf;
}

/// A .safetensors file with stories260K's tensor names (HF spelling) and shapes cut to at most
/// 2 x 4, dtypes cycling through F32, F16 and BF16, header padded like the reference writer.
Bytes safetensors_from(const io::GgufFile& g, std::size_t max_tensors) {
    nlohmann::ordered_json header;
    header["__metadata__"] = {{"format", "pt"}};
    Bytes buffer;
    const char* dtypes[] = {"F32", "F16", "BF16"};
    std::size_t i = 0;
    for (const auto& t : g.tensors()) {
        if (i == max_tensors) break;
        const char* dt = dtypes[i++ % 3];
        const std::size_t elem = std::string(dt) == "F32" ? 4 : 2;
        std::vector<std::uint64_t> shape;
        if (t.n_dims > 1) shape.push_back(std::min<std::uint64_t>(t.ne[1], 2));
        shape.push_back(std::min<std::uint64_t>(t.ne[0], 4));
        std::uint64_t n = elem;
        for (auto d : shape) n *= d;
        const std::uint64_t begin = buffer.size();
        const Bytes d = data_bytes(n, t.data, t.n_bytes);
        buffer.insert(buffer.end(), d.begin(), d.end());
        header[hf_name(t.name)] = {{"dtype", dt}, {"shape", shape}, {"data_offsets", {begin, begin + n}}};
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    Bytes out(8);
    const std::uint64_t len = text.size();
    std::memcpy(out.data(), &len, 8);
    for (char c : text) out.push_back(std::byte(c));
    out.insert(out.end(), buffer.begin(), buffer.end());
    return out;
}

/// A valid llama2.c checkpoint with the given header; floats taken from `src` (stories260K).
Bytes llama2c_checkpoint(std::int32_t dim, std::int32_t hidden, std::int32_t layers, std::int32_t heads,
                         std::int32_t kv_heads, std::int32_t vocab, std::int32_t seq, const Bytes& src) {
    const std::int64_t d = dim, f = hidden, L = layers, v = vocab < 0 ? -vocab : vocab;
    const std::int64_t hd = d / heads, kv = hd * kv_heads;
    const std::int64_t floats = v * d + L * d + L * d * d + 2 * L * kv * d + L * d * d + L * d + 3 * L * f * d + d +
                                seq * hd + (vocab < 0 ? v * d : 0);
    const std::int32_t header[7] = {dim, hidden, layers, heads, kv_heads, vocab, seq};
    Bytes out(28);
    std::memcpy(out.data(), header, 28);
    const std::size_t skip = src.size() > 28 ? 28 : 0;  // the source's own floats, not its header
    for (std::int64_t i = 0; i < floats * 4; ++i)
        out.push_back(src.size() > skip ? src[skip + std::size_t(i) % (src.size() - skip)] : std::byte(i));
    return out;
}

/// A SentencePiece model with only its first `keep` pieces (every other field kept verbatim).
std::string trimmed_spm(const std::string& model, std::size_t keep) {
    tokenizer::protobuf::Reader r(model, "spm");
    std::vector<std::pair<std::size_t, std::uint32_t>> fields;  // tag offset, field number
    while (!r.done()) {
        const auto f = r.next();
        fields.emplace_back(std::size_t(f.offset), f.number);
    }
    std::string out;
    std::size_t pieces = 0;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        const std::size_t end = i + 1 < fields.size() ? fields[i + 1].first : model.size();
        if (fields[i].second != tokenizer::spm_field::pieces || pieces++ < keep)
            out.append(model, fields[i].first, end - fields[i].first);
    }
    return out;
}

Bytes read_bytes(const fs::path& p) {
    const std::string s = fuzz::read_file(p);
    Bytes b(s.size());
    if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_seeds OUT_DIR\n");
        return 2;
    }
    const fs::path out = argv[1];
    const fs::path models = fuzz::shared_dir() / "models";
    auto have = [&](const char* name) {
        const bool ok = fs::exists(models / name);
        if (!ok) std::fprintf(stderr, "make_seeds: %s absent, seeds without it\n", (models / name).c_str());
        return ok;
    };
    int n = 0;
    try {
        // GGUF: one complete tiny model, and each shared GGUF cut down.
        const Bytes stories_bin = have("stories260K.bin") ? read_bytes(models / "stories260K.bin") : Bytes{};
        write(out / "gguf" / "tiny-llama.gguf", tiny_llama_gguf(stories_bin)), ++n;
        for (const char* name : {"stories260K-f32.gguf", "llama2-tiny-random-f16.gguf", "synthetic-tiny-q4_k_m.gguf",
                                 "synthetic-tiny-q6_k.gguf", "llama2-vocab.gguf"})
            if (have(name)) shrink_gguf(models / name, out / "gguf" / (std::string("shrunk-") + name), 40), ++n;
        if (have("stories260K-f32.gguf")) {
            const Bytes b = read_bytes(models / "stories260K-f32.gguf");
            write(out / "gguf" / "stories-prefix.gguf", b.data(), std::min<std::size_t>(b.size(), 12000)), ++n;
            // SafeTensors: stories260K's names and dtypes with small shapes.
            const auto g = io::GgufFile::open(models / "stories260K-f32.gguf");
            write(out / "safetensors" / "stories-names.safetensors", safetensors_from(*g, 1000)), ++n;
            write(out / "safetensors" / "three.safetensors", safetensors_from(*g, 3)), ++n;
        }
        // llama2.c: tiny valid checkpoints (shared and separate classifier) and a header slice.
        write(out / "llama2c" / "tiny-shared.bin", llama2c_checkpoint(8, 16, 1, 2, 1, 16, 4, stories_bin)), ++n;
        write(out / "llama2c" / "tiny-separate.bin", llama2c_checkpoint(8, 12, 2, 4, 2, -10, 3, stories_bin)), ++n;
        if (!stories_bin.empty()) write(out / "llama2c" / "stories-prefix.bin", stories_bin.data(), 4096), ++n;
        // SentencePiece models: tok512 whole, Llama-2's with its first 300 pieces.
        if (have("tok512.model")) write(out / "spm_model" / "tok512.model", fuzz::read_file(models / "tok512.model")), ++n;
        if (have("llama2-tokenizer.model"))
            write(out / "spm_model" / "llama2-300.model", trimmed_spm(fuzz::read_file(models / "llama2-tokenizer.model"), 300)), ++n;
        // Tokenizer text: llama.cpp's test cases and the reference story, once per vocabulary.
        std::vector<std::string> texts{"Once upon a time", " \xF0\x9F\x98\x80  x\xFF\xFE"};
        const fs::path cases = fuzz::shared_dir() / "fixtures" / "llama2-vocab.tokenizer-cases.inp";
        if (fs::exists(cases)) {
            const std::string all = fuzz::read_file(cases), sep = "\n__ggml_vocab_test__\n";
            for (std::size_t pos = 0; pos < all.size();) {
                const std::size_t next = std::min(all.find(sep, pos), all.size());
                texts.push_back(all.substr(pos, next - pos));
                pos = next + sep.size();
            }
        }
        if (have("stories260K.greedy200.txt")) texts.push_back(fuzz::read_file(models / "stories260K.greedy200.txt"));
        for (std::size_t i = 0; i < texts.size(); ++i)
            for (char selector = 0; selector < 6; ++selector)
                write(out / "tokenizer" / ("text" + std::to_string(i) + "-" + std::to_string(int(selector))),
                      std::string(1, selector) + texts[i]), ++n;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_seeds: %s\n", e.what());
        return 1;
    }
    std::printf("make_seeds: %d seeds in %s\n", n, out.c_str());
    return 0;
}
