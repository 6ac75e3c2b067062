// greta_gemv_bench: the decode GEMV alone, per format, shape and tuning, in GB/s of weights
// read. Weights rotate over enough copies to miss the L2 cache; launches are captured in a graph
// and replayed, so launch cost is the in-graph cost, as in the decode step.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <cstdio>
#include <vector>

#include <greta/bench/bandwidth.hpp>
#include <greta/bench/gpu_timer.hpp>
#include <greta/gpu.hpp>
#include <greta/kernels.hpp>
#include <greta/model/synthetic.hpp>

using namespace greta;
using Arch = arch::Sm90;

namespace {

struct Shape {
    const char* name;
    std::uint32_t rows, k;
    bool pair;
};

template <DType T, class Tune>
void run(const Shape& sh, const char* tune_name, double hbm) {
    // GRETA_GEMV_ONLY="Q4_K|2x11008x4096 pair|w4 t1 s3" runs one configuration (for profilers).
    if (const char* only = std::getenv("GRETA_GEMV_ONLY")) {
        const std::string want = only, have = std::string(dtype_name(T)) + "|" + sh.name + "|" + tune_name;
        if (want != have) return;
    }
    const auto layout = kernels::matrix_layout(T, sh.rows, sh.k);
    const std::uint64_t per = layout.total_bytes() * (sh.pair ? 2 : 1);
    const int copies = int(std::max<std::uint64_t>(4, (400ull << 20) / per + 1));
    // Random valid blocks, repacked once, copied to every slot.
    std::vector<std::byte> gg(*row_bytes(T, sh.k) * sh.rows);
    model::synthetic::Rng rng(1, 2, 3);
    const auto info = dtype_info(T);
    for (std::size_t b = 0; b < gg.size() / info.block_bytes; ++b)
        model::synthetic::fill_block(T, gg.data() + b * info.block_bytes, 0.02f, rng);
    TensorView tv;
    tv.type = T;
    tv.n_dims = 2;
    tv.ne = {sh.k, sh.rows, 1, 1};
    tv.data = gg.data();
    tv.n_bytes = gg.size();
    std::vector<std::byte> p(layout.payload_bytes()), m(std::max<std::uint64_t>(layout.meta_bytes(), 16)),
        a(std::max<std::uint64_t>(layout.aux_bytes(), 16));
    kernels::repack_rows(tv, layout, 0, sh.rows, p.data(), m.data(), a.data());
    const std::uint64_t slot = ((p.size() + 255) & ~255ull) + ((m.size() + 255) & ~255ull) + ((a.size() + 255) & ~255ull);
    const int mats = copies * (sh.pair ? 2 : 1);
    gpu::DeviceBuffer w(slot * mats);
    gpu::Stream s;
    std::vector<kernels::DeviceMatrix> dm(mats);
    for (int i = 0; i < mats; ++i) {
        std::byte* base = w.as<std::byte>() + slot * i;
        dm[i] = {base, base + ((p.size() + 255) & ~255ull), base + ((p.size() + 255) & ~255ull) + ((m.size() + 255) & ~255ull), layout};
        gpu::check(gpu::vendor::memcpy_h2d_async(const_cast<std::byte*>(dm[i].payload), p.data(), p.size(), s.get()), "up");
        gpu::check(gpu::vendor::memcpy_h2d_async(const_cast<std::byte*>(dm[i].meta), m.data(), m.size(), s.get()), "up");
        gpu::check(gpu::vendor::memcpy_h2d_async(const_cast<std::byte*>(dm[i].aux), a.data(), a.size(), s.get()), "up");
    }
    std::vector<float> xh(sh.k);
    for (auto& v : xh) v = 2.0f * rng.uniform() - 1.0f;
    gpu::DeviceBuffer x(sh.k * 4), nw(sh.k * 4), y(sh.rows * 4);
    gpu::check(gpu::vendor::memcpy_h2d_async(x.data(), xh.data(), sh.k * 4, s.get()), "up");
    gpu::check(gpu::vendor::memcpy_h2d_async(nw.data(), xh.data(), sh.k * 4, s.get()), "up");
    s.synchronize();
    constexpr int launches = 40;
    auto body = [&](const gpu::Stream& st, bool overlap) {
        for (int i = 0; i < launches; ++i) {
            kernels::GemvArgs ga;
            ga.x = x.as<const float>();
            ga.norm = nw.as<const float>();
            const int c = i % copies;
            ga.seg[0].w = dm[sh.pair ? 2 * c : c];
            if (sh.pair) {
                ga.seg[0].w2 = dm[2 * c + 1];
                ga.seg[0].epilogue = kernels::GemvEpilogue::SiluPair;
            }
            ga.seg[0].out = y.as<float>();
            kernels::gemv_launch<Arch, T, Tune>(st, ga, overlap);
        }
    };
    using P = kernels::GemvPolicy<Arch, T, Tune>;
    if (P::smem(layout.nsb).total > gpu::device_info().shared_per_block_opt_in) {
        std::printf("| %-5s | %-18s | %-12s | (needs %u bytes of shared memory) |\n", std::string(dtype_name(T)).c_str(),
                    sh.name, tune_name, P::smem(layout.nsb).total);
        return;
    }
    for (bool overlap : {true}) {
        auto g = gpu::Graph::capture(s, [&](const gpu::Stream& st) { body(st, overlap); });
        g.launch(s);
        s.synchronize();
        std::vector<float> ms;
        for (int r = 0; r < 7; ++r) {
            bench::GpuTimer t;
            t.start(s);
            g.launch(s);
            t.stop(s);
            ms.push_back(t.elapsed_ms());
        }
        std::sort(ms.begin(), ms.end());
        const double us = ms[ms.size() / 2] * 1e3 / launches;
        const double gbs = double(per) / (us * 1e-6) / 1e9;
        std::printf("| %-5s | %-18s | %-12s | %-7s | %8.2f | %7.0f | %5.1f%% |\n", std::string(dtype_name(T)).c_str(), sh.name,
                    tune_name, overlap ? "pdl" : "plain", us, gbs, 100.0 * gbs / hbm);
    }
}

template <DType T>
void run_tunes(const Shape& sh, double hbm) {
    run<T, kernels::GemvTune<4, 1, true, 3>>(sh, "w4 t1 s3", hbm);
    run<T, kernels::GemvTune<4, 1, true, 0>>(sh, "w4 t1 regs", hbm);
    run<T, kernels::GemvTune<8, 1, true, 3>>(sh, "w8 t1 s3", hbm);
}

}  // namespace

int main() try {
    if (gpu::device_count() == 0) {
        std::printf("no GPU device\n");
        return 2;
    }
    std::printf("device: %s\n", gpu::device_info().name.c_str());
    const double hbm = bench::measure_read_bandwidth_gbs();
    std::printf("read bandwidth %.1f GB/s\n\n| fmt | shape | tune | launch | us | GB/s | of BW |\n|---|---|---|---|---|---|---|\n", hbm);
    const Shape shapes[] = {{"4096x4096", 4096, 4096, false}, {"2x11008x4096 pair", 11008, 4096, true},
                            {"4096x11008", 4096, 11008, false}, {"32000x4096", 32000, 4096, false}};
    for (const auto& sh : shapes) {
        run_tunes<DType::Q4_K>(sh, hbm);
        run_tunes<DType::Q6_K>(sh, hbm);
    }
    run<DType::F16, kernels::GemvDefaultTune<Arch, DType::F16>>(shapes[0], "default", hbm);
    run<DType::F16, kernels::GemvDefaultTune<Arch, DType::F16>>(shapes[2], "default", hbm);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "greta_gemv_bench: %s\n", e.what());
    return 1;
}
