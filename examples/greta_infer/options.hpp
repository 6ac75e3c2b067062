#pragma once
// Command-line options of greta_infer (llama.cpp conventions: -m, -p, -n, --temp, --seed, …).

#include <CLI/CLI.hpp>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <greta/core/error.hpp>
#include <greta/sampling/params.hpp>

namespace greta_infer {

struct Options {
    std::string model, tokenizer, prompt, prompt_file, dump_logits;
    int n_predict = 128;
    std::uint32_t context = 0;
    std::size_t threads = 0;
    std::string backend = "auto";
    greta::sampling::SamplingParams sampling{};
    std::vector<std::string> stop;
    bool no_bos = false, info = false, tokenize = false, no_graph = false;
    int prefill_min_tokens = -1;  ///< --prefill-min (-1: the backend's default)
    // Benchmark mode.
    bool bench = false, json = false;
    std::string synthetic, quant = "q4_k_m";
    std::vector<int> bench_prompt{512}, bench_gen{128};
    int repetitions = 5;
    // Parity validation mode.
    bool validate = false, profile = false;
    int validate_layers = 0, validate_steps = 32;
    double max_rel = 1e-2, min_top1 = 1.0, max_kl = 1e-3;
};

inline void add_options(CLI::App& app, Options& o) {
    app.add_option("-m,--model", o.model, "model: GGUF file, SafeTensors file/directory, or llama2.c .bin");
    app.add_option("--tokenizer", o.tokenizer, "tokenizer: SentencePiece .model or GGUF (needed for llama2.c files)");
    app.add_option("-p,--prompt", o.prompt, "prompt text (\"\" starts from BOS alone)");
    app.add_option("-f,--file", o.prompt_file, "read the prompt from a file");
    app.add_option("-n,--n-predict", o.n_predict, "tokens to generate (-1: until the context is full)")
        ->capture_default_str();
    app.add_option("-c,--ctx-size", o.context, "context length (0: the model's)")->capture_default_str();
    app.add_option("-t,--threads", o.threads, "CPU threads (0: all cores)")->capture_default_str();
    app.add_option("--backend", o.backend, "cpu, gpu or auto (GPU when built with one and present)")
        ->check(CLI::IsMember({"cpu", "gpu", "auto"}))
        ->capture_default_str();
    app.add_option("--temp", o.sampling.temperature, "temperature (0: greedy)")->capture_default_str();
    app.add_option("--top-k", o.sampling.top_k, "top-k (0: disabled)")->capture_default_str();
    app.add_option("--top-p", o.sampling.top_p, "top-p, in (0, 1]")->capture_default_str();
    app.add_option("--min-p", o.sampling.min_p, "min-p, in [0, 1]")->capture_default_str();
    app.add_option("--repeat-penalty", o.sampling.repeat_penalty, "repetition penalty (1: off)")->capture_default_str();
    app.add_option("--presence-penalty", o.sampling.presence_penalty, "presence penalty")->capture_default_str();
    app.add_option("--frequency-penalty", o.sampling.frequency_penalty, "frequency penalty")->capture_default_str();
    app.add_option("--repeat-last-n", o.sampling.penalty_last_n, "window of the penalties")->capture_default_str();
    app.add_option("-s,--seed", o.sampling.seed, "random seed")->capture_default_str();
    app.add_option("--stop", o.stop, "stop when this text is generated (repeatable)");
    app.add_flag("--no-bos", o.no_bos, "do not prepend the BOS token");
    app.add_option("--dump-logits", o.dump_logits, "write float32 logits of every evaluated position to a file");
    app.add_flag("--info", o.info, "print the model's metadata, preset and tensors, then exit");
    app.add_flag("--tokenize", o.tokenize, "print the prompt's token ids, then exit");
    app.add_flag("--no-graph", o.no_graph, "GPU: launch kernels one by one instead of replaying a graph");
    app.add_option("--prefill-min", o.prefill_min_tokens,
                   "GPU: prompts of at least N tokens use the matrix-core prefill (0: token by token; default: the backend's)")
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--bench", o.bench, "benchmark prompt processing and generation (llama-bench style)");
    app.add_flag("--json", o.json, "benchmark: print JSON instead of a markdown table");
    app.add_option("--synthetic", o.synthetic, "use a synthetic model of a preset's shapes (llama2-7b)");
    app.add_option("--quant", o.quant, "synthetic model format: q4_k_m, q6_k, q8_0, f16")->capture_default_str();
    app.add_option("-r,--repetitions", o.repetitions, "benchmark repetitions")->capture_default_str();
    app.add_flag("--profile", o.profile, "GPU: time each block of the decode step over -n steps");
    app.add_flag("--validate", o.validate, "compare the GPU backend with the CPU reference (exit 1 past a bound)");
    app.add_option("--validate-layers", o.validate_layers, "validate only the first K layers (0: all)")
        ->capture_default_str();
    app.add_option("--validate-steps", o.validate_steps, "greedy steps compared after the prompt")
        ->capture_default_str();
    app.add_option("--max-rel", o.max_rel, "validate: bound on the logits' max relative error")->capture_default_str();
    app.add_option("--min-top1", o.min_top1, "validate: bound on top-1 agreement")->capture_default_str();
    app.add_option("--max-kl", o.max_kl, "validate: bound on the mean KL divergence (nats)")->capture_default_str();
    app.add_option("--bench-p", o.bench_prompt, "benchmark prompt lengths (with --bench, -p N also works)");
    app.add_option("--bench-n", o.bench_gen, "benchmark generation lengths (with --bench, -n N also works)");
}

/// Cross-option checks and derived values, after parsing.
inline void finish_options(Options& o) {
    if (!o.prompt_file.empty()) {
        std::ifstream f(o.prompt_file, std::ios::binary);
        if (!f) throw greta::Error("cannot read the prompt file", {o.prompt_file, {}, {}});
        std::ostringstream ss;
        ss << f.rdbuf();
        o.prompt = ss.str();
    }
    if (o.bench) {
        // llama-bench spelling: -p and -n are lengths in benchmark mode.
        if (!o.prompt.empty()) o.bench_prompt = {std::stoi(o.prompt)};
        o.bench_gen = {o.n_predict};
        if (o.repetitions < 1) throw greta::Error("--repetitions must be at least 1");
    }
    if (o.model.empty() && o.synthetic.empty()) throw greta::Error("no model given: use -m PATH");
    if (!o.bench) o.sampling.validate();
}

}  // namespace greta_infer
