#pragma once
/// @file llama2.c legacy checkpoints (Karpathy's run.c format) as a ModelFile.
///
/// Layout: 7 x int32 {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len}
/// (vocab_size < 0 means a separate classifier follows), then float32 arrays:
/// token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kv_dim, dim],
/// wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim],
/// w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final [dim], freq_cis_real and freq_cis_imag
/// [seq_len, head_dim / 2] (unused: RoPE is recomputed), then wcls [vocab, dim] if not shared.
/// q/k rows are already in adjacent-pair RoPE order, like GGUF's: no permutation.

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <greta/config/model_config.hpp>
#include <greta/core/error.hpp>
#include <greta/core/tensor_view.hpp>
#include <greta/io/gguf_config.hpp>
#include <greta/io/mmap.hpp>
#include <greta/io/model_file.hpp>

namespace greta::io {

struct Llama2cHeader {
    std::int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    static constexpr std::uint64_t bytes = 7 * 4;
};

/// The header, or nullopt when the file is shorter than one.
inline std::optional<Llama2cHeader> read_llama2c_header(const MappedFile& f) {
    if (f.size() < Llama2cHeader::bytes) return std::nullopt;
    Llama2cHeader h;
    std::memcpy(&h, f.data(), Llama2cHeader::bytes);
    return h;
}

/// Problem with the header's fields (named, with the field's offset), or nullopt if usable.
inline std::optional<std::pair<std::string, std::uint64_t>> llama2c_header_problem(const Llama2cHeader& h) {
    const std::array<std::pair<const char*, std::int32_t>, 7> fields{{{"dim", h.dim},
                                                                       {"hidden_dim", h.hidden_dim},
                                                                       {"n_layers", h.n_layers},
                                                                       {"n_heads", h.n_heads},
                                                                       {"n_kv_heads", h.n_kv_heads},
                                                                       {"vocab_size", h.vocab_size},
                                                                       {"seq_len", h.seq_len}}};
    for (std::size_t i = 0; i < fields.size(); ++i) {
        const bool ok = i == 5 ? fields[i].second != 0 && fields[i].second != INT32_MIN : fields[i].second > 0;
        if (!ok) return std::pair{std::string("header field ") + fields[i].first + " is " + std::to_string(fields[i].second), i * 4};
    }
    if (h.dim % h.n_heads != 0)
        return std::pair{"dim " + std::to_string(h.dim) + " is not a multiple of n_heads " + std::to_string(h.n_heads), std::uint64_t(0)};
    if (h.n_heads % h.n_kv_heads != 0)
        return std::pair{"n_heads " + std::to_string(h.n_heads) + " is not a multiple of n_kv_heads " +
                             std::to_string(h.n_kv_heads), std::uint64_t(12)};
    if ((h.dim / h.n_heads) % 2 != 0)
        return std::pair{"head dimension " + std::to_string(h.dim / h.n_heads) + " is odd", std::uint64_t(0)};
    return std::nullopt;
}

/// Bytes a checkpoint with this (valid) header occupies, with or without a separate
/// classifier; nullopt when that overflows 64 bits (then no file can match it).
inline std::optional<std::uint64_t> llama2c_file_size(const Llama2cHeader& h, bool separate_classifier) {
    const std::uint64_t d = std::uint64_t(h.dim), f = std::uint64_t(h.hidden_dim), L = std::uint64_t(h.n_layers);
    const std::uint64_t v = std::uint64_t(h.vocab_size < 0 ? -std::int64_t(h.vocab_size) : h.vocab_size);
    const std::uint64_t hd = d / std::uint64_t(h.n_heads), kv = hd * std::uint64_t(h.n_kv_heads);
    bool overflow = false;
    auto mul = [&](std::initializer_list<std::uint64_t> xs) {
        std::uint64_t r = 1;
        for (const auto x : xs) {
            const auto m = detail::checked_mul(r, x);
            overflow |= !m;
            r = m.value_or(0);
        }
        return r;
    };
    const std::uint64_t terms[] = {mul({v, d}),         mul({L, d}),     mul({L, d, d}), mul({2, L, kv, d}),
                                   mul({L, d, d}),      mul({L, d}),     mul({3, L, f, d}), d,
                                   mul({std::uint64_t(h.seq_len), hd}), separate_classifier ? mul({v, d}) : 0};
    std::uint64_t floats = 0;
    for (const auto t : terms) {
        overflow |= floats + t < floats;
        floats += t;
    }
    const auto bytes = detail::checked_mul(floats, 4);
    if (overflow || !bytes || *bytes > UINT64_MAX - Llama2cHeader::bytes) return std::nullopt;
    return Llama2cHeader::bytes + *bytes;
}

/// True when the file's size is exactly what its header implies (the format has no magic).
inline bool looks_like_llama2c(const MappedFile& f) {
    const auto h = read_llama2c_header(f);
    return h && !llama2c_header_problem(*h) && llama2c_file_size(*h, h->vocab_size < 0) == f.size();
}

/// Imports a mapped llama2.c checkpoint. The views point into the mapping (the float arrays
/// start at byte 28, so every one is 4-byte aligned). With a shared classifier, output.weight
/// is a second view of the embedding, as llama.cpp's converter writes it.
inline ModelFile llama2c_model_file(std::shared_ptr<const MappedFile> file) {
    const std::string& name = file->path();
    const auto h = read_llama2c_header(*file);
    if (!h)
        throw Error("truncated file: a llama2.c header needs 28 bytes, the file has " + std::to_string(file->size()),
                    {name, 0, {}});
    if (const auto problem = llama2c_header_problem(*h)) throw Error("not a usable llama2.c checkpoint: " + problem->first, {name, problem->second, {}});
    const bool separate = h->vocab_size < 0;
    const auto expected = llama2c_file_size(*h, separate);
    if (!expected || file->size() != *expected) {
        std::string msg = "file size " + std::to_string(file->size()) + " does not match the " +
                          (expected ? std::to_string(*expected) : std::string("(over 2^64)")) +
                          " bytes its llama2.c header implies (" + (separate ? "with" : "without") + " a separate classifier)";
        if (file->size() == llama2c_file_size(*h, !separate))
            msg += std::string("; it would fit ") + (separate ? "a shared" : "a separate") + " classifier: wrong sign of vocab_size?";
        else if (expected && file->size() < *expected)
            msg += "; truncated file?";
        throw Error(msg, {name, {}, {}});
    }

    ModelFile mf;
    mf.path = name;
    mf.format = FileFormat::Llama2C;
    mf.name = std::filesystem::path(name).stem().string();
    ModelConfig& c = mf.config;
    c.dim = std::uint32_t(h->dim);
    c.ffn_dim = std::uint32_t(h->hidden_dim);
    c.n_layers = std::uint32_t(h->n_layers);
    c.n_heads = std::uint32_t(h->n_heads);
    c.n_kv_heads = std::uint32_t(h->n_kv_heads);
    c.head_dim = c.dim / c.n_heads;
    c.vocab_size = std::uint32_t(separate ? -std::int64_t(h->vocab_size) : h->vocab_size);
    c.max_context = std::uint32_t(h->seq_len);
    c.rope_theta = 10000.0f;  // llama2.c hard-codes both
    c.norm_eps = 1e-5f;
    c.tied_embeddings = !separate;
    mf.rope_style = RopeStyle::AdjacentPairs;
    if (const std::string problem = config_problem(c); !problem.empty())
        throw Error("invalid model hyperparameters: " + problem, {name, {}, {}});

    const std::uint64_t d = c.dim, f = c.ffn_dim, L = c.n_layers, v = c.vocab_size, kv = c.kv_dim();
    const std::byte* p = file->data() + Llama2cHeader::bytes;
    auto take = [&p](std::uint64_t floats) {
        const std::byte* at = p;
        p += floats * 4;
        return at;
    };
    auto view = [](std::string tensor, const std::byte* data, std::uint64_t cols, std::uint64_t rows) {
        TensorView t;
        t.name = std::move(tensor);
        t.type = DType::F32;
        t.n_dims = rows == 1 ? 1 : 2;
        t.ne = {cols, rows, 1, 1};
        t.data = data;
        t.n_bytes = cols * rows * 4;
        return t;
    };
    const std::byte* embd = take(v * d);
    const std::byte* rms_att = take(L * d);
    const std::byte* wq = take(L * d * d);
    const std::byte* wk = take(L * kv * d);
    const std::byte* wv = take(L * kv * d);
    const std::byte* wo = take(L * d * d);
    const std::byte* rms_ffn = take(L * d);
    const std::byte* w1 = take(L * f * d);
    const std::byte* w2 = take(L * d * f);
    const std::byte* w3 = take(L * f * d);
    const std::byte* rms_final = take(d);
    take(std::uint64_t(h->seq_len) * c.head_dim);  // freq_cis_real + freq_cis_imag
    const std::byte* wcls = separate ? take(v * d) : embd;

    // Same order as llama.cpp's converted GGUF.
    mf.tensors.push_back(view("token_embd.weight", embd, d, v));
    mf.tensors.push_back(view("output_norm.weight", rms_final, d, 1));
    mf.tensors.push_back(view("output.weight", wcls, d, v));
    for (std::uint64_t l = 0; l < L; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        mf.tensors.push_back(view(b + "attn_q.weight", wq + l * d * d * 4, d, d));
        mf.tensors.push_back(view(b + "attn_k.weight", wk + l * kv * d * 4, d, kv));
        mf.tensors.push_back(view(b + "attn_v.weight", wv + l * kv * d * 4, d, kv));
        mf.tensors.push_back(view(b + "attn_output.weight", wo + l * d * d * 4, d, d));
        mf.tensors.push_back(view(b + "attn_norm.weight", rms_att + l * d * 4, d, 1));
        mf.tensors.push_back(view(b + "ffn_gate.weight", w1 + l * f * d * 4, d, f));
        mf.tensors.push_back(view(b + "ffn_down.weight", w2 + l * d * f * 4, f, d));
        mf.tensors.push_back(view(b + "ffn_up.weight", w3 + l * f * d * 4, d, f));
        mf.tensors.push_back(view(b + "ffn_norm.weight", rms_ffn + l * d * 4, d, 1));
    }
    const char* keys[] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
    const std::int32_t vals[] = {h->dim, h->hidden_dim, h->n_layers, h->n_heads, h->n_kv_heads, h->vocab_size, h->seq_len};
    for (int i = 0; i < 7; ++i) mf.metadata.emplace_back(std::string("llama2c.") + keys[i], std::to_string(vals[i]));
    mf.metadata.emplace_back("llama2c.classifier", separate ? "separate" : "shared with the embedding");
    mf.storage = std::move(file);
    return mf;
}

inline ModelFile open_llama2c(const std::filesystem::path& path) { return llama2c_model_file(MappedFile::open(path)); }

}  // namespace greta::io
