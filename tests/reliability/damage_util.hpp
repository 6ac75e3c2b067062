#pragma once
// Damaging files and loading them the way a program would, under the allocation guard and a
// watchdog. Each load ends in one of two accepted outcomes: the file loads (and runs), or a
// one-line greta::Error naming the file. Anything else (another exception type, a refused
// allocation, a hang) fails the test case.

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <new>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <greta/core/error.hpp>
#include <greta/io/gguf.hpp>
#include <greta/io/llama2c.hpp>
#include <greta/io/open_model_file.hpp>
#include <greta/model/cpu_backend.hpp>
#include <greta/model/weights.hpp>
#include <greta/tokenizer/gguf_vocab.hpp>
#include <greta/tokenizer/sentencepiece_model.hpp>
#include <greta/tokenizer/stream_decoder.hpp>
#include <greta/tokenizer/tokenizer.hpp>

#include "alloc_guard.hpp"
#include "shared_files.hpp"

namespace greta::test {

using Bytes = std::vector<std::byte>;

inline Bytes file_bytes(const std::filesystem::path& p) {
    const auto c = read_bytes(p);
    Bytes b(c.size());
    if (!c.empty()) std::memcpy(b.data(), c.data(), c.size());
    return b;
}
inline void write_file(const std::filesystem::path& p, const Bytes& b) { write_bytes(p, b.data(), b.size()); }
inline void write_file(const std::filesystem::path& p, std::string_view s) { write_bytes(p, s.data(), s.size()); }
inline std::string as_string(const Bytes& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

/// `count` cut points spread evenly over [0, size), plus the first and last bytes.
inline std::vector<std::size_t> spread_cuts(std::size_t size, std::size_t count) {
    std::vector<std::size_t> cuts{0, 1, size - 1};
    for (std::size_t i = 1; i < count; ++i) cuts.push_back(size * i / count);
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    return cuts;
}

/// A byte range of a file and what it holds.
struct Region {
    std::size_t begin, end;
    std::string name;
};

/// 1 to 4 random edits inside `r`: a random byte, a flipped bit, a zeroed run, or a u32/u64
/// overwritten with a value that breaks lengths and counts (0, all ones, 2^31, the file size...).
inline Bytes corrupt(Bytes b, const Region& r, std::mt19937_64& rng) {
    const std::size_t span = r.end - r.begin;
    const int edits = 1 + int(rng() % 4);
    const std::uint64_t nasty[] = {0, 1, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, std::uint64_t(1) << 32,
                                   std::uint64_t(1) << 62, ~std::uint64_t(0), b.size(), b.size() / 2, rng()};
    for (int e = 0; e < edits; ++e) {
        const std::size_t at = r.begin + rng() % span;
        switch (rng() % 5) {
            case 0: b[at] = std::byte(rng()); break;
            case 1: b[at] ^= std::byte(1u << (rng() % 8)); break;
            case 2: std::fill_n(b.begin() + std::ptrdiff_t(at), std::min<std::size_t>(1 + rng() % 16, r.end - at), std::byte{0}); break;
            case 3: {
                const auto v = static_cast<std::uint32_t>(nasty[rng() % std::size(nasty)]);
                std::memcpy(b.data() + at, &v, std::min<std::size_t>(4, b.size() - at));
                break;
            }
            default: {
                const std::uint64_t v = nasty[rng() % std::size(nasty)];
                std::memcpy(b.data() + at, &v, std::min<std::size_t>(8, b.size() - at));
                break;
            }
        }
    }
    return b;
}

/// What happened to one damaged input.
struct LoadOutcome {
    enum Kind { Loaded, Error, Other } kind = Other;
    std::string message;
    std::size_t refused = 0;       ///< largest single allocation refused by the guard
    std::int64_t peak_growth = 0;  ///< peak live heap bytes above the start
};

/// Runs `load` under the allocation guard (limit: 4x input + 64 MiB, for single allocations
/// and for the peak of live heap growth) and a 60 s watchdog.
inline LoadOutcome guarded_load(const std::string& what, std::size_t input_bytes, const std::function<void()>& load) {
    LoadOutcome out;
    CaseWatchdog watchdog(what, std::chrono::seconds(60));
    AllocationGuard guard(AllocationGuard::limit_for(input_bytes));
    try {
        load();
        out.kind = LoadOutcome::Loaded;
    } catch (const greta::Error& e) {
        out.kind = LoadOutcome::Error;
        out.message = e.what();
    } catch (const std::bad_alloc&) {
        out.message = "std::bad_alloc";
    } catch (const std::exception& e) {
        out.message = std::string("non-greta exception: ") + e.what();
    }
    out.refused = guard.refused();
    out.peak_growth = guard.peak_growth();
    return out;
}

/// The accepted outcomes: loaded, or a one-line greta::Error naming `file`; within the guard.
inline void check_outcome(const LoadOutcome& o, const std::string& what, std::size_t input_bytes,
                          const std::string& file) {
    INFO(what << ": " << (o.kind == LoadOutcome::Loaded ? "loaded" : o.message));
    CHECK(o.refused == 0);
    CHECK(o.peak_growth <= std::int64_t(AllocationGuard::limit_for(input_bytes)));
    CHECK(o.kind != LoadOutcome::Other);
    if (o.kind == LoadOutcome::Error) {
        CHECK(o.message.find('\n') == std::string::npos);
        CHECK(o.message.find(file) != std::string::npos);
    }
}

/// Counts of each outcome over a sweep, so tests can check that damage did something.
struct Tally {
    int loaded = 0, errors = 0, other = 0;
    void add(const LoadOutcome& o) {
        (o.kind == LoadOutcome::Loaded ? loaded : o.kind == LoadOutcome::Error ? errors : other) += 1;
    }
    /// One line in the test log, so a run shows how much damage each sweep detected.
    void print(const std::string& label) const {
        std::printf("reliability: %s: %d loaded or ran, %d refused with greta::Error, %d other\n", label.c_str(),
                    loaded, errors, other);
    }
};

/// Reads the first and last byte of each tensor (AddressSanitizer checks the views).
inline void touch_tensors(std::span<const TensorView> tensors) {
    unsigned sink = 0;
    for (const auto& t : tensors)
        if (t.n_bytes) sink += unsigned(t.data[0]) + unsigned(t.data[t.n_bytes - 1]);
    volatile unsigned keep = sink;
    (void)keep;
}

/// Binds the weights and runs a short prompt through the CPU reference (context capped at
/// 16: the automatic context is the runtime's policy and is tested through the CLI).
inline void run_model(const io::ModelFile& mf, const tokenizer::Tokenizer* tok) {
    touch_tensors(mf.tensors);
    const model::ModelWeights w = model::bind_weights(mf.config, mf.rope_style, mf.tensors, mf.path);
    if (tok)
        check(tok->size() == w.cfg.vocab_size, [&] {
            return "tokenizer has " + std::to_string(tok->size()) + " tokens, the model " + std::to_string(w.cfg.vocab_size);
        }, {mf.path, {}, {}});
    model::CpuBackend backend(w, std::min<std::uint32_t>(w.cfg.max_context, 16), 1);
    std::vector<std::int32_t> ids = tok ? tok->encode("Once upon a time", true) : std::vector<std::int32_t>{1, 2, 3};
    ids.resize(std::min<std::size_t>(ids.size(), backend.context_length()));
    std::vector<float> logits(w.cfg.vocab_size);
    backend.forward(ids, 0, logits.data(), false);
}

/// A tokenizer round trip over a vocabulary that loaded: encode, decode, stream every id.
inline void exercise_tokenizer(const tokenizer::Tokenizer& tok) {
    const auto ids = tok.encode("Once upon a time, \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80 \xFF", true);
    for (const auto id : ids) check(id >= 0 && std::size_t(id) < tok.size(), [] { return std::string("bad id"); });
    (void)tok.decode(ids);
    tokenizer::StreamDecoder stream(tok);
    for (std::size_t i = 0; i < tok.size() && i < 2048; ++i) (void)stream.push(std::int32_t(i));
    (void)stream.flush();
}

/// Everything greta_infer does with a GGUF, from bytes in memory.
inline void load_gguf_fully(const Bytes& bytes, const std::string& name) {
    const auto g = io::GgufFile::parse(io::MappedFile::from_bytes(bytes, name));
    const io::ModelFile mf = io::gguf_model_file(g);
    const tokenizer::Tokenizer tok(tokenizer::vocab_from_gguf(*g));
    exercise_tokenizer(tok);
    run_model(mf, &tok);
}

/// Regions of a GGUF: the fixed header, the metadata, and the tensor table.
inline std::vector<Region> gguf_regions(const Bytes& file) {
    const auto g = io::GgufFile::parse_bytes(file, "regions");
    REQUIRE(!g->tensors().empty());
    // The tensor table starts with the first tensor's name, preceded by its u64 length.
    const std::string& first = g->tensors().front().name;
    const auto* h = reinterpret_cast<const char*>(file.data());
    const auto it = std::search(h + 24, h + g->data_offset(), first.begin(), first.end());
    REQUIRE(it != h + g->data_offset());
    const std::size_t table = std::size_t(it - h) - 8;
    return {{0, 24, "header"}, {24, table, "metadata"}, {table, std::size_t(g->data_offset()), "tensor table"}};
}

// ---- SafeTensors -----------------------------------------------------------------------------

struct StEntry {
    std::string name, dtype;
    std::vector<std::uint64_t> shape;
    Bytes data;
};

/// A .safetensors file: u64 header length, JSON header (padded to 8 with spaces), data.
inline Bytes safetensors_bytes(const std::vector<StEntry>& entries) {
    nlohmann::ordered_json header;
    header["__metadata__"] = {{"format", "pt"}};
    Bytes data;
    for (const auto& e : entries) {
        header[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {data.size(), data.size() + e.data.size()}}};
        data.insert(data.end(), e.data.begin(), e.data.end());
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    Bytes out(8);
    const std::uint64_t n = text.size();
    std::memcpy(out.data(), &n, 8);
    for (char c : text) out.push_back(std::byte(c));
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

/// Hugging Face name of a GGUF Llama tensor name.
inline std::string hf_tensor_name(const std::string& gguf) {
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
    FAIL("unexpected GGUF tensor name " << gguf);
    return {};
}

/// stories260K's weights as a SafeTensors checkpoint (tied embeddings, so no lm_head) and
/// the matching config.json. The q/k row order is left as GGUF's: damage tests need a
/// checkpoint that loads and runs, not one that writes the same story.
struct HfCheckpoint {
    Bytes safetensors;
    std::string config_json;
};
inline HfCheckpoint stories_checkpoint(const std::filesystem::path& gguf_path) {
    const auto g = io::GgufFile::open(gguf_path);
    std::vector<StEntry> entries;
    for (const auto& t : g->tensors()) {
        if (t.name == "output.weight") continue;
        std::vector<std::uint64_t> shape;
        for (std::uint32_t d = t.n_dims; d-- > 0;) shape.push_back(t.ne[d]);  // outermost first
        entries.push_back({hf_tensor_name(t.name), "F32", shape, Bytes(t.data, t.data + t.n_bytes)});
    }
    const ModelConfig c = io::config_from_gguf(*g);
    const nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                                   {"model_type", "llama"},
                                   {"hidden_size", c.dim},
                                   {"num_hidden_layers", c.n_layers},
                                   {"num_attention_heads", c.n_heads},
                                   {"num_key_value_heads", c.n_kv_heads},
                                   {"intermediate_size", c.ffn_dim},
                                   {"vocab_size", c.vocab_size},
                                   {"max_position_embeddings", c.max_context},
                                   {"rms_norm_eps", c.norm_eps},
                                   {"rope_theta", c.rope_theta},
                                   {"tie_word_embeddings", true}};
    return {safetensors_bytes(entries), config.dump(2)};
}

/// Region of a .safetensors file holding the header length and the JSON header.
inline Region safetensors_header_region(const Bytes& file) {
    std::uint64_t n = 0;
    std::memcpy(&n, file.data(), 8);
    return {0, std::size_t(8 + n), "header"};
}

}  // namespace greta::test
