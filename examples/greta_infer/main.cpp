// greta_infer: generate text, inspect model files, benchmark and validate backends.
// stdout carries only the prompt and the generated text; everything else goes to stderr.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <greta/greta.hpp>

#include "bench_mode.hpp"
#include "gpu_entry.hpp"
#include "info_mode.hpp"
#include "options.hpp"
#include "profile_mode.hpp"
#include "validate_mode.hpp"

namespace {

using namespace greta;

runtime::BackendFactory choose_backend(const greta_infer::Options& o) {
    std::string kind = o.backend;
    if (kind == "auto") kind = greta_infer::gpu_compiled() && greta_infer::gpu_present() ? "gpu" : "cpu";
    if (kind == "cpu") {
        const std::size_t threads = o.threads;
        return [threads](const model::ModelWeights& w, std::uint32_t ctx) -> std::unique_ptr<model::Backend> {
            return std::make_unique<model::CpuBackend>(w, ctx, threads);
        };
    }
    if (!greta_infer::gpu_compiled())
        throw Error("--backend gpu: this greta_infer was built without GPU support (rebuild with -Dgpu=cuda)");
    if (!greta_infer::gpu_present()) throw Error("--backend gpu: no GPU device found");
    const bool graph = !o.no_graph;
    const int prefill_min = o.prefill_min_tokens;
    return [graph, prefill_min](const model::ModelWeights& w, std::uint32_t ctx) {
        return greta_infer::make_gpu_backend(
            w, {.context = ctx, .use_graph = graph, .progress = true, .prefill_min_tokens = prefill_min});
    };
}

int run_tokenize(const greta_infer::Options& o) {
    auto file = io::open_model_file(o.model);
    tokenizer::Tokenizer tok(runtime::load_model_vocab(file, o.tokenizer));
    const auto ids = tok.encode(o.prompt, !o.no_bos);
    for (std::size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
    return 0;
}

int run_generate(const greta_infer::Options& o) {
    runtime::EngineOptions eo;
    eo.model = o.model;
    eo.tokenizer = o.tokenizer;
    eo.context = o.context;
    eo.threads = o.threads;
    eo.backend_factory = choose_backend(o);
    eo.log = [](std::string_view msg) { std::cerr << "greta: " << msg << "\n"; };
    auto engine = runtime::Engine::open(eo);

    runtime::GenerateOptions go;
    go.n_predict = o.n_predict;
    go.sampling = o.sampling;
    go.stop_strings = o.stop;
    go.add_bos = !o.no_bos;
    engine.prepare(o.prompt, go);  // fail before anything reaches stdout

    std::ofstream dump;
    runtime::LogitsCallback on_logits;
    if (!o.dump_logits.empty()) {
        dump.open(o.dump_logits, std::ios::binary);
        if (!dump) throw Error("cannot open for writing", {o.dump_logits, {}, {}});
        on_logits = [&dump](std::span<const float> row) {
            dump.write(reinterpret_cast<const char*>(row.data()), std::streamsize(row.size_bytes()));
        };
    }

    std::cout << o.prompt << std::flush;
    const auto st = engine.generate(o.prompt, go, [](std::string_view piece) {
        std::cout << piece << std::flush;
        return true;
    }, on_logits);
    std::cout << std::flush;
    if (dump.is_open()) {
        dump.close();
        if (!dump) throw Error("writing logits failed", {o.dump_logits, {}, {}});
    }
    std::fprintf(stderr,
                 "\ngreta: backend %s | load %.1f ms | prompt %zu tok %.1f ms (%.1f tok/s) | ttft %.1f ms | "
                 "generated %zu tok (%.1f tok/s) | stop: %s\n",
                 std::string(engine.backend().name()).c_str(), engine.load_ms(), st.n_prompt, st.prompt_ms,
                 st.prompt_tokens_per_s(), st.ttft_ms, st.n_generated, st.generate_tokens_per_s(),
                 std::string(runtime::to_string(st.stop)).c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    greta_infer::Options o;
    CLI::App app{"greta_infer: Llama-family inference with GRETA"};
    greta_infer::add_options(app, o);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        std::cout << app.help();
        return 0;
    } catch (const CLI::CallForAllHelp& e) {
        std::cout << app.help("", CLI::AppFormatMode::All);
        return 0;
    } catch (const CLI::ParseError& e) {
        std::string msg = e.what();
        std::cerr << "greta_infer: error: " << msg.substr(0, msg.find('\n')) << " (see --help)\n";
        return 1;
    }
    try {
        greta_infer::finish_options(o);
        if (o.info) return greta_infer::run_info(o);
        if (o.tokenize) return run_tokenize(o);
        if (o.validate) return greta_infer::run_validate(o);
        if (o.profile) return greta_infer::run_profile(o);
        if (o.bench) return greta_infer::run_bench(o, choose_backend(o));
        return run_generate(o);
    } catch (const std::exception& e) {
        std::cout << std::flush;
        std::string msg = e.what();
        std::cerr << "greta_infer: error: " << msg.substr(0, msg.find('\n')) << "\n";
        return 1;
    }
}
