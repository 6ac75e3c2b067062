// write_synthetic_gguf: writes greta's synthetic model (the GPU benchmark's weights, from
// greta::model::make_synthetic) as a GGUF file, so other engines can run identical weights.
//
//   write_synthetic_gguf llama2-7b q4_k_m 42 out.gguf [--vocab llama2-vocab.gguf]
//
// --vocab copies the tokenizer.* metadata of a vocabulary GGUF (its token count must equal the
// preset's vocab_size); llama.cpp needs a vocabulary to load a model.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <greta/io/gguf.hpp>
#include <greta/io/gguf_writer.hpp>
#include <greta/model/synthetic.hpp>

int main(int argc, char** argv) try {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s PRESET QUANT SEED OUT.gguf [--vocab VOCAB.gguf]\n", argv[0]);
        return 2;
    }
    const std::string preset = argv[1], quant = argv[2], out = argv[4];
    const std::uint64_t seed = std::stoull(argv[3]);
    std::string vocab;
    for (int i = 5; i + 1 < argc; ++i)
        if (std::string(argv[i]) == "--vocab") vocab = argv[++i];

    const auto m = greta::model::make_synthetic(preset, quant, seed);
    const greta::ModelConfig& c = m.weights.cfg;
    greta::io::GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_string("general.name", "greta synthetic " + preset + " " + quant + " seed " + std::to_string(seed));
    w.add_uint32("llama.context_length", c.max_context);
    w.add_uint32("llama.embedding_length", c.dim);
    w.add_uint32("llama.block_count", c.n_layers);
    w.add_uint32("llama.feed_forward_length", c.ffn_dim);
    w.add_uint32("llama.attention.head_count", c.n_heads);
    w.add_uint32("llama.attention.head_count_kv", c.n_kv_heads);
    w.add_uint32("llama.rope.dimension_count", c.head_dim);
    w.add_float32("llama.rope.freq_base", c.rope_theta);
    w.add_float32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
    w.add_uint32("llama.vocab_size", c.vocab_size);
    // llama_ftype: MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7, MOSTLY_Q4_K_M = 15, MOSTLY_Q6_K = 18.
    const std::uint32_t ftype = quant == "f16" ? 1 : quant == "q8_0" ? 7 : quant == "q4_k_m" ? 15 : 18;
    w.add_uint32("general.file_type", ftype);
    std::shared_ptr<const greta::io::GgufFile> vf;
    if (!vocab.empty()) {
        vf = greta::io::GgufFile::open(vocab);
        const auto tokens = vf->get_string_array("tokenizer.ggml.tokens");
        if (tokens.size() != c.vocab_size)
            throw greta::Error("vocabulary has " + std::to_string(tokens.size()) + " tokens, the preset " +
                               std::to_string(c.vocab_size), {vocab, {}, "tokenizer.ggml.tokens"});
        for (const auto& [key, value] : vf->metadata())
            if (key.rfind("tokenizer.", 0) == 0) w.add(key, value);
    }
    for (const auto& t : m.tensors) {
        std::vector<std::uint64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
        w.add_tensor(t.name, t.type, ne, std::span<const std::byte>(t.data, t.n_bytes));
    }
    w.write(out);
    std::printf("wrote %s: %zu tensors, %.2f GB of weights\n", out.c_str(), m.tensors.size(), double(m.storage_bytes) / 1e9);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "write_synthetic_gguf: %s\n", e.what());
    return 1;
}
