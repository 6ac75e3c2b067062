#pragma once
/// @file Hugging Face Llama checkpoints: config.json hyperparameters and the HF -> GGUF
/// tensor-name mapping.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

#include <greta/config/model_config.hpp>
#include <greta/core/error.hpp>
#include <greta/io/gguf_config.hpp>
#include <greta/io/safetensors.hpp>

namespace greta::io {

/// Reads and parses a JSON file; errors name the file and the byte offset.
inline nlohmann::json read_json_file(const std::filesystem::path& path) {
    const std::string name = path.string();
    // Reading a directory through an ifstream throws std::ios_base::failure naming no file.
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw Error("is a directory, not a JSON file", {name, {}, {}});
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error("cannot open file", {name, {}, {}});
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    try {
        // Bounded nesting: see json_max_depth.
        return nlohmann::json::parse(text, [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
            if (depth > json_max_depth)
                throw Error("JSON nested deeper than " + std::to_string(json_max_depth) + " levels", {name, {}, {}});
            return true;
        });
    } catch (const nlohmann::json::parse_error& e) {
        throw Error("invalid JSON: " + detail::one_line(e.what()), {name, e.byte, {}});
    } catch (const nlohmann::json::exception& e) {
        throw Error("invalid JSON: " + detail::one_line(e.what()), {name, {}, {}});
    }
}

/// Hyperparameters from a parsed HF config.json. `architectures` must name LlamaForCausalLM
/// (or, without that list, model_type "llama"). Required: hidden_size, num_hidden_layers,
/// num_attention_heads, intermediate_size, vocab_size. Defaults as in transformers'
/// LlamaConfig: num_key_value_heads = num_attention_heads, head_dim = hidden/heads,
/// max_position_embeddings 2048, rope_theta 10000, rms_norm_eps 1e-6, tie_word_embeddings false.
inline ModelConfig config_from_hf_json(const nlohmann::json& j, const std::string& file) {
    if (!j.is_object()) throw Error("config.json is not a JSON object", {file, {}, {}});
    if (const auto it = j.find("architectures"); it != j.end() && !it->is_null()) {
        bool llama = false;
        std::string names;
        if (it->is_array())
            for (const auto& a : *it)
                if (a.is_string()) {
                    llama |= a.get<std::string>() == "LlamaForCausalLM";
                    names += (names.empty() ? "" : ", ") + a.get<std::string>();
                }
        if (!llama)
            throw Error("unsupported architecture '" + detail::one_line(names.empty() ? it->dump() : names) +
                            "' (GRETA runs LlamaForCausalLM)",
                        {file, {}, "architectures"});
    } else {
        const auto mt = j.find("model_type");
        if (mt == j.end() || !mt->is_string() || mt->get<std::string>() != "llama")
            throw Error("neither \"architectures\" nor model_type says this is a Llama model", {file, {}, "architectures"});
    }
    if (const auto it = j.find("rope_scaling"); it != j.end() && !it->is_null())
        throw Error("RoPE scaling " + detail::one_line(it->dump()) + " is not supported", {file, {}, "rope_scaling"});

    auto uint_field = [&](const char* key, std::optional<std::uint32_t> fallback) -> std::uint32_t {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) {
            if (!fallback) throw Error("missing required key", {file, {}, key});
            return *fallback;
        }
        const auto v = detail::json_uint(*it);
        if (!v || *v > std::numeric_limits<std::uint32_t>::max())
            throw Error("expected a non-negative 32-bit integer, got " + detail::one_line(it->dump()), {file, {}, key});
        return static_cast<std::uint32_t>(*v);
    };
    auto float_field = [&](const char* key, double fallback) -> float {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) return static_cast<float>(fallback);
        if (!it->is_number()) throw Error("expected a number, got " + detail::one_line(it->dump()), {file, {}, key});
        return static_cast<float>(it->get<double>());
    };

    ModelConfig c;
    c.dim = uint_field("hidden_size", std::nullopt);
    c.n_layers = uint_field("num_hidden_layers", std::nullopt);
    c.n_heads = uint_field("num_attention_heads", std::nullopt);
    c.n_kv_heads = uint_field("num_key_value_heads", c.n_heads);
    c.head_dim = uint_field("head_dim", c.n_heads && c.dim % c.n_heads == 0 ? c.dim / c.n_heads : 0);
    c.ffn_dim = uint_field("intermediate_size", std::nullopt);
    c.vocab_size = uint_field("vocab_size", std::nullopt);
    c.max_context = uint_field("max_position_embeddings", 2048);
    c.rope_theta = float_field("rope_theta", 10000.0);
    c.norm_eps = float_field("rms_norm_eps", 1e-6);
    c.tied_embeddings = false;
    if (const auto it = j.find("tie_word_embeddings"); it != j.end() && !it->is_null()) {
        if (!it->is_boolean()) throw Error("expected true or false, got " + detail::one_line(it->dump()), {file, {}, "tie_word_embeddings"});
        c.tied_embeddings = it->get<bool>();
    }
    if (const std::string problem = config_problem(c); !problem.empty())
        throw Error("invalid model hyperparameters: " + problem, {file, {}, {}});
    return c;
}

/// Reads config.json at `path`.
inline ModelConfig read_hf_config(const std::filesystem::path& path) {
    return config_from_hf_json(read_json_file(path), path.string());
}

/// HF tensors a Llama checkpoint may carry that GRETA recomputes (old checkpoints store RoPE
/// inverse frequencies).
inline bool hf_tensor_is_ignored(std::string_view hf) {
    constexpr std::string_view suffix = ".rotary_emb.inv_freq";
    return hf.size() >= suffix.size() && hf.substr(hf.size() - suffix.size()) == suffix;
}

/// GGUF name of a Hugging Face Llama tensor, or nullopt for names that are not Llama weights:
/// model.embed_tokens.weight -> token_embd.weight, model.norm.weight -> output_norm.weight,
/// lm_head.weight -> output.weight, model.layers.N.{self_attn.{q,k,v,o}_proj,
/// mlp.{gate,up,down}_proj, input_layernorm, post_attention_layernorm}.weight ->
/// blk.N.{attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down, attn_norm, ffn_norm}.weight.
inline std::optional<std::string> hf_to_gguf_name(std::string_view hf) {
    if (hf == "model.embed_tokens.weight") return "token_embd.weight";
    if (hf == "model.norm.weight") return "output_norm.weight";
    if (hf == "lm_head.weight") return "output.weight";
    constexpr std::string_view layers = "model.layers.";
    if (hf.substr(0, layers.size()) != layers) return std::nullopt;
    hf.remove_prefix(layers.size());
    std::size_t digits = 0;
    while (digits < hf.size() && digits < 9 && hf[digits] >= '0' && hf[digits] <= '9') ++digits;
    if (digits == 0 || digits >= hf.size() || hf[digits] != '.' || (digits > 1 && hf[0] == '0')) return std::nullopt;
    const std::string_view index = hf.substr(0, digits);
    const std::string_view rest = hf.substr(digits + 1);
    static constexpr std::pair<std::string_view, std::string_view> roles[] = {
        {"self_attn.q_proj.weight", "attn_q.weight"},       {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},       {"self_attn.o_proj.weight", "attn_output.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},        {"input_layernorm.weight", "attn_norm.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
    };
    for (const auto& [from, to] : roles)
        if (rest == from) return "blk." + std::string(index) + "." + std::string(to);
    return std::nullopt;
}

}  // namespace greta::io
