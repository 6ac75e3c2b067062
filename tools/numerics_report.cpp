// Measures how far FP16 storage drifts from the FP32 reference, by position, and prints a
// markdown section for docs/NUMERICS.md (scripts/numerics.sh assembles the page).
//
//   numerics_report MODEL.gguf [--positions N] [--layers K]
//   numerics_report --synthetic llama2-7b --quant q4_k_m [--positions N] [--layers K]
//   numerics_report --vs-llama-cpp FIXTURE_DIR MODEL.gguf...   (one table row per model)
//
// The FP32 CPU backend picks tokens greedily; every variant is fed the same tokens (teacher
// forcing), so each row compares the same context. Variants: FP16 KV cache, FP16 matrix-product
// inputs (activations), both.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <greta/greta.hpp>
#include <greta/model/synthetic.hpp>

namespace {

using namespace greta;

struct RowStats {
    double rel = 0, kl = 0;
    bool top1 = false;
    double top5 = 0;
};

std::vector<std::size_t> top_ids(const std::vector<float>& v, std::size_t k) {
    std::vector<std::size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + std::ptrdiff_t(k), idx.end(),
                      [&](std::size_t a, std::size_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
    idx.resize(k);
    return idx;
}

RowStats compare(const std::vector<float>& got, const std::vector<float>& ref) {
    RowStats s;
    double max_diff = 0, max_ref = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        max_diff = std::max(max_diff, std::abs(double(got[i]) - ref[i]));
        max_ref = std::max(max_ref, std::abs(double(ref[i])));
    }
    s.rel = max_diff / std::max(max_ref, 1e-30);
    s.kl = validate::detail::kl_divergence(ref, got);
    const auto a = top_ids(got, 5), b = top_ids(ref, 5);
    s.top1 = a[0] == b[0];
    for (auto x : a) s.top5 += double(std::count(b.begin(), b.end(), x)) / 5.0;
    return s;
}

struct Variant {
    const char* name;
    model::CpuPrecision precision;
};

std::vector<float> read_f32(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) throw Error("cannot read", {p.string(), {}, {}});
    std::vector<char> b((std::istreambuf_iterator<char>(f)), {});
    std::vector<float> v(b.size() / 4);
    std::memcpy(v.data(), b.data(), v.size() * 4);
    return v;
}

/// The FP32 reference against llama.cpp's logits (prefill rows, then teacher-forced decode rows).
int vs_llama_cpp(const std::filesystem::path& dir, const std::vector<std::string>& models) {
    std::printf("| model | rows | max rel err | mean rel err | top-1 agree |\n| --- | ---: | ---: | ---: | ---: |\n");
    for (const auto& m : models) {
        const auto stem = std::filesystem::path(m).stem().string();
        auto file = io::open_model_file(m);
        const auto w = model::bind_weights(file.config, file.rope_style, file.tensors, file.path);
        std::ifstream tf(dir / (stem + ".tokens"));
        std::vector<std::int32_t> prompt, gen;
        std::string line;
        for (auto* dst : {&prompt, &gen}) {
            std::getline(tf, line);
            std::istringstream ss(line);
            for (std::int32_t id; ss >> id;) dst->push_back(id);
        }
        const auto pre = read_f32(dir / (stem + ".prefill.f32")), dec = read_f32(dir / (stem + ".decode.f32"));
        const std::size_t V = w.cfg.vocab_size, P = prompt.size(), G = dec.size() / V;
        model::CpuBackend cpu(w, std::uint32_t(P + G));
        std::vector<float> all(P * V), row(V);
        cpu.forward(prompt, 0, all.data(), true);
        double max_rel = 0, sum_rel = 0;
        std::size_t rows = 0, top1 = 0;
        auto add = [&](const float* got, const float* ref) {
            std::vector<float> g(got, got + V), r(ref, ref + V);
            const auto s = compare(g, r);
            max_rel = std::max(max_rel, s.rel);
            sum_rel += s.rel;
            top1 += s.top1;
            ++rows;
        };
        for (std::size_t r = 0; r < P; ++r) add(&all[r * V], &pre[r * V]);
        for (std::size_t i = 1; i < G; ++i) {
            cpu.forward(std::span<const std::int32_t>(&gen[i - 1], 1), std::uint32_t(P + i - 1), row.data(), false);
            add(row.data(), &dec[i * V]);
        }
        std::printf("| %s | %zu | %.2e | %.2e | %.3f |\n", stem.c_str(), rows, max_rel, sum_rel / double(rows),
                    double(top1) / double(rows));
    }
    std::printf("\n");
    return 0;
}

int run(int argc, char** argv) {
    if (argc > 2 && std::string(argv[1]) == "--vs-llama-cpp")
        return vs_llama_cpp(argv[2], std::vector<std::string>(argv + 3, argv + argc));
    std::string model_path, synthetic, quant = "q4_k_m";
    int positions = 0, layers = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw Error("missing value after " + a);
            return argv[++i];
        };
        if (a == "--positions") positions = std::stoi(next());
        else if (a == "--layers") layers = std::stoi(next());
        else if (a == "--synthetic") synthetic = next();
        else if (a == "--quant") quant = next();
        else model_path = a;
    }
    std::unique_ptr<io::ModelFile> file;
    std::unique_ptr<model::SyntheticModel> synth;
    model::ModelWeights w;
    std::string title;
    if (!synthetic.empty()) {
        synth = std::make_unique<model::SyntheticModel>(model::make_synthetic(synthetic, quant, 42));
        w = synth->weights;
        title = "synthetic " + synthetic + " " + quant;
    } else {
        file = std::make_unique<io::ModelFile>(io::open_model_file(model_path));
        w = model::bind_weights(file->config, file->rope_style, file->tensors, file->path);
        title = std::filesystem::path(model_path).filename().string();
    }
    if (layers > 0 && std::uint32_t(layers) < w.cfg.n_layers) {
        w.cfg.n_layers = std::uint32_t(layers);
        w.layers.resize(std::size_t(layers));
        title += " (first " + std::to_string(layers) + " layers)";
    }
    const std::uint32_t n = positions > 0 ? std::uint32_t(positions) : w.cfg.max_context;
    const std::size_t V = w.cfg.vocab_size;

    const Variant variants[] = {{"fp16 KV cache", {true, false}},
                                {"fp16 activations", {false, true}},
                                {"fp16 KV + activations", {true, true}}};
    model::CpuBackend ref(w, n);
    std::vector<std::unique_ptr<model::CpuBackend>> tests;
    for (const auto& v : variants) tests.push_back(std::make_unique<model::CpuBackend>(w, n, 0, v.precision));

    const std::uint32_t n_bins = std::min<std::uint32_t>(8, n);
    const std::uint32_t bin_width = (n + n_bins - 1) / n_bins;
    struct Acc {
        double max_rel = 0, sum_rel = 0, sum_kl = 0, top5 = 0;
        std::size_t rows = 0, top1 = 0;
    };
    std::vector<std::vector<Acc>> acc(std::size(variants), std::vector<Acc>(n_bins));
    std::vector<float> lr(V), lt(V);
    std::int32_t token = 1;  // BOS
    for (std::uint32_t pos = 0; pos < n; ++pos) {
        ref.forward(std::span<const std::int32_t>(&token, 1), pos, lr.data(), false);
        for (std::size_t v = 0; v < tests.size(); ++v) {
            tests[v]->forward(std::span<const std::int32_t>(&token, 1), pos, lt.data(), false);
            const auto s = compare(lt, lr);
            Acc& a = acc[v][pos / bin_width];
            a.max_rel = std::max(a.max_rel, s.rel);
            a.sum_rel += s.rel;
            a.sum_kl += s.kl;
            a.top5 += s.top5;
            a.top1 += s.top1;
            ++a.rows;
        }
        token = std::int32_t(std::max_element(lr.begin(), lr.end()) - lr.begin());
    }

    std::printf("### %s\n\n%u positions from BOS, greedy tokens of the FP32 reference fed to every variant.\n\n",
                title.c_str(), n);
    std::printf("| variant | positions | max rel err | mean rel err | top-1 agree | top-5 overlap | mean KL (nats) |\n");
    std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
    for (std::size_t v = 0; v < tests.size(); ++v)
        for (std::uint32_t b = 0; b < n_bins; ++b) {
            const Acc& a = acc[v][b];
            if (!a.rows) continue;
            std::printf("| %s | %u-%u | %.2e | %.2e | %.3f | %.3f | %.2e |\n", variants[v].name, b * bin_width,
                        std::min(n, (b + 1) * bin_width) - 1, a.max_rel, a.sum_rel / double(a.rows),
                        double(a.top1) / double(a.rows), a.top5 / double(a.rows), a.sum_kl / double(a.rows));
        }
    std::printf("\n");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "numerics_report: error: %s\n", e.what());
        return 1;
    }
}
