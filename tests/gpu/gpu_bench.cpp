// greta_gpu_bench: token-generation rate of the GPU backend (llama-bench's tg test: n greedy
// decode steps from an empty context, repeated), and the fraction of the device's measured
// read bandwidth it reaches. Host code; the GPU is reached through greta_infer's gpu_entry.
//
//   greta_gpu_bench --synthetic llama2-7b --quant q4_k_m -n 128 -r 5
//   greta_gpu_bench -m model.gguf --variants graph,nograph,nooverlap
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <greta/io/open_model_file.hpp>
#include <greta/model/synthetic.hpp>
#include <greta/model/weights.hpp>

#include "../../examples/greta_infer/gpu_entry.hpp"

using namespace greta;
using Clock = std::chrono::steady_clock;

namespace {

std::uint64_t bytes_per_token(const model::ModelWeights& w) {
    std::uint64_t b = w.output.n_bytes + w.output_norm.n_bytes + w.tok_embd.row_stride_bytes();
    for (const auto& l : w.layers)
        for (const auto* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down})
            b += t->n_bytes;
    return b;
}

struct Args {
    std::string model, synthetic = "llama2-7b", quant = "q4_k_m";
    int n = 128, reps = 5, warmup = 8;
    std::uint32_t ctx = 0;
    std::string variants = "graph";
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw Error("missing value after " + k);
            return argv[++i];
        };
        if (k == "-m") a.model = next();
        else if (k == "--synthetic") a.synthetic = next();
        else if (k == "--quant") a.quant = next();
        else if (k == "-n") a.n = std::stoi(next());
        else if (k == "-r") a.reps = std::stoi(next());
        else if (k == "--warmup") a.warmup = std::stoi(next());
        else if (k == "--ctx") a.ctx = std::uint32_t(std::stoul(next()));
        else if (k == "--variants") a.variants = next();
        else throw Error("unknown argument " + k);
    }
    return a;
}

}  // namespace

int main(int argc, char** argv) try {
    const Args args = parse(argc, argv);
    if (!greta_infer::gpu_present()) {
        std::printf("no GPU device\n");
        return 2;
    }
    std::printf("device: %s\n", greta_infer::gpu_device_name().c_str());

    const auto t0 = Clock::now();
    std::shared_ptr<const void> owner;
    const model::ModelWeights* w = nullptr;
    std::string label;
    if (!args.model.empty()) {
        struct Loaded {
            io::ModelFile file;
            model::ModelWeights weights;
        };
        auto l = std::make_shared<Loaded>();
        l->file = io::open_model_file(args.model);
        l->weights = model::bind_weights(l->file.config, l->file.rope_style, l->file.tensors, l->file.path);
        w = &l->weights;
        owner = l;
        label = args.model;
    } else {
        auto m = std::make_shared<model::SyntheticModel>(model::make_synthetic(args.synthetic, args.quant, 42));
        w = &m->weights;
        owner = m;
        label = "synthetic " + args.synthetic + " " + args.quant;
    }
    const double gen_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const std::uint64_t bpt = bytes_per_token(*w);
    std::printf("model: %s, %.1f M params, weights read per token %.3f GB (built in %.1f s)\n", label.c_str(),
                double(w->cfg.n_params()) / 1e6, double(bpt) / 1e9, gen_s);

    const double hbm = greta_infer::measure_hbm_bandwidth_gbs();
    std::printf("measured read bandwidth: %.1f GB/s -> limit %.1f tok/s\n", hbm, hbm * 1e9 / double(bpt));

    std::stringstream vs(args.variants);
    std::string variant;
    std::printf("\n| variant | test | t/s | sd | ms/token | GB/s | of measured BW |\n|---|---|---|---|---|---|---|\n");
    std::vector<std::string> rows;
    while (std::getline(vs, variant, ',')) {
        greta_infer::GpuOptions o;
        o.context = args.ctx ? args.ctx : std::uint32_t(std::max(args.n + args.warmup + 8, 512));
        // A variant is '+'-joined words: graph, nograph, nooverlap, trace (per-launch timeline on
        // stderr), stepwise (a host round trip per token instead of chained steps), qp=0|1
        // (GRETA_QKV_PERSISTENT), rows=q:k:v:gate:up (GRETA_GROUPED_ROWS, ':' for ',').
        bool stepwise = false;  // one decode_greedy call per token (the host waits for each)
        unsetenv("GRETA_QKV_PERSISTENT");
        unsetenv("GRETA_GPU_TRACE");
        unsetenv("GRETA_GROUPED_ROWS");
        {
            std::stringstream ws(variant);
            std::string word;
            while (std::getline(ws, word, '+')) {
                if (word == "nograph") o.use_graph = false;
                else if (word == "stepwise") stepwise = true;
                else if (word == "nooverlap") o.overlap_launches = false;
                else if (word == "trace") setenv("GRETA_GPU_TRACE", "1", 1);
                else if (word.rfind("qp=", 0) == 0) setenv("GRETA_QKV_PERSISTENT", word.substr(3).c_str(), 1);
                else if (word.rfind("rows=", 0) == 0) {
                    std::string list = word.substr(5);
                    std::replace(list.begin(), list.end(), ':', ',');
                    setenv("GRETA_GROUPED_ROWS", list.c_str(), 1);
                }
                else if (word != "graph") throw Error("unknown variant word " + word);
            }
        }
        o.progress = false;
        const auto u0 = Clock::now();
        auto backend = greta_infer::make_gpu_backend(*w, o);
        const double up_s = std::chrono::duration<double>(Clock::now() - u0).count();
        std::int32_t tok = 1;
        for (int i = 0; i < args.warmup; ++i) tok = backend->decode_greedy(tok, std::uint32_t(i));
        backend->decode_greedy_run(tok, 0, 2, [](std::int32_t) { return true; });  // captures the chained graph
        std::vector<double> tps;
        for (int r = 0; r < args.reps; ++r) {
            tok = 1;
            const auto s0 = Clock::now();
            if (stepwise) {
                for (int i = 0; i < args.n; ++i) tok = backend->decode_greedy(tok, std::uint32_t(i));
            } else {
                backend->decode_greedy_run(tok, 0, std::size_t(args.n), [&](std::int32_t id) {
                    tok = id;
                    return true;
                });
            }
            const double s = std::chrono::duration<double>(Clock::now() - s0).count();
            tps.push_back(args.n / s);
        }
        double mean = 0, sd = 0;
        for (double v : tps) mean += v;
        mean /= double(tps.size());
        for (double v : tps) sd += (v - mean) * (v - mean);
        sd = tps.size() > 1 ? std::sqrt(sd / double(tps.size() - 1)) : 0;
        const double gbs = mean * double(bpt) / 1e9;
        char line[256];
        std::snprintf(line, sizeof line, "| %s | tg%d | %.1f | %.1f | %.3f | %.0f | %.1f%% |", variant.c_str(), args.n, mean,
                      sd, 1e3 / mean, gbs, 100.0 * gbs / hbm);
        std::printf("%s   (upload %.1f s, last token %d)\n", line, up_s, tok);
        std::fflush(stdout);
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "greta_gpu_bench: %s\n", e.what());
    return 1;
}
