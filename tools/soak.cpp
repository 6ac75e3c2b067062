// Soak test: many consecutive generate() calls in one process, reporting host RSS and free
// device memory, which must stay flat (docs/BENCHMARKS.md).
//   greta_soak MODEL.gguf [CALLS=1000] [--backend cpu|gpu]
// Half the calls reuse one engine, half re-create it (weights uploaded again each time).
// Exit 1 if RSS grows by more than 8 MiB or free device memory drops by more than 8 MiB
// between the first and the last tenth of the calls.

#include <cstdio>
#include <fstream>
#include <string>

#include <greta/greta.hpp>

#include "gpu_entry.hpp"

namespace {

std::uint64_t rss_bytes() {
    std::ifstream f("/proc/self/statm");
    std::uint64_t pages = 0, resident = 0;
    f >> pages >> resident;
    return resident * 4096;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s MODEL [CALLS] [--backend cpu|gpu]\n", argv[0]);
        return 1;
    }
    const std::string model = argv[1];
    const int calls = argc > 2 ? std::stoi(argv[2]) : 1000;
    const bool gpu = !(argc > 4 && std::string(argv[4]) == "cpu") && greta_infer::gpu_compiled() &&
                     greta_infer::gpu_present();
    try {
        greta::runtime::EngineOptions eo{.model = model, .context = 64};
        if (gpu)
            eo.backend_factory = [](const greta::model::ModelWeights& w, std::uint32_t ctx) {
                return greta_infer::make_gpu_backend(w, {.context = ctx, .use_graph = true, .progress = false});
            };
        greta::runtime::GenerateOptions go;
        go.n_predict = 16;
        go.sampling.temperature = 0.0f;

        std::uint64_t rss_first = 0, rss_last = 0, free_first = 0, free_last = 0;
        const int tenth = std::max(1, calls / 10);
        auto reused = greta::runtime::Engine::open(eo);
        std::string reference;
        for (int i = 0; i < calls; ++i) {
            std::string text;
            auto collect = [&](std::string_view s) { text += s; return true; };
            if (i < calls / 2) {
                reused.generate("Once upon a time", go, collect);
            } else {
                auto fresh = greta::runtime::Engine::open(eo);
                fresh.generate("Once upon a time", go, collect);
            }
            if (i == 0) reference = text;
            if (text != reference) {
                std::fprintf(stderr, "greta_soak: call %d generated different text\n", i);
                return 1;
            }
            if (i == tenth - 1) {
                rss_first = rss_bytes();
                free_first = greta_infer::gpu_free_bytes();
            }
            rss_last = rss_bytes();
            free_last = greta_infer::gpu_free_bytes();
        }
        const double rss_growth = (double(rss_last) - double(rss_first)) / 1048576.0;
        const double dev_drop = (double(free_first) - double(free_last)) / 1048576.0;
        std::printf("soak: %d generate() calls (%d reusing one engine, %d re-creating it), backend %s | "
                    "host RSS %.1f -> %.1f MiB (%+.2f) | free device memory %.1f -> %.1f MiB (%+.2f)\n",
                    calls, calls / 2, calls - calls / 2, gpu ? "gpu" : "cpu", rss_first / 1048576.0,
                    rss_last / 1048576.0, rss_growth, free_first / 1048576.0, free_last / 1048576.0, -dev_drop);
        const bool ok = rss_growth <= 8.0 && dev_drop <= 8.0;
        std::printf("%s\n", ok ? "PASS" : "FAIL");
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "greta_soak: error: %s\n", e.what());
        return 1;
    }
}
