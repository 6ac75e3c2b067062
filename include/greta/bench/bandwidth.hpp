#pragma once
/// @file Device-memory read bandwidth, measured with a streaming kernel: the ceiling that a
/// memory-bound decode step is compared with. GPU builds only; empty for host compilers.

#include <greta/core/macros.hpp>

#if GRETA_GPU_COMPILER
#include <algorithm>
#include <cstdint>
#include <vector>

#include <greta/arch/arch.hpp>
#include <greta/bench/gpu_timer.hpp>
#include <greta/gpu/intrinsics.hpp>
#include <greta/gpu/launch.hpp>
#include <greta/gpu/memory.hpp>
#include <greta/gpu/runtime.hpp>

namespace greta::bench {

/// Reads n 16-byte words, four loads in flight per thread, and folds them so the loads cannot
/// be dropped; writes only if the fold hits an impossible value.
struct StreamReadKernel {
    static constexpr int max_block_threads = 512;
    GRETA_DEVICE void operator()(const uint4* p, std::uint64_t n, uint4* sink) const {
        const std::uint64_t stride = std::uint64_t(gridDim.x) * blockDim.x;
        std::uint32_t acc = 0;
        std::uint64_t i = std::uint64_t(blockIdx.x) * blockDim.x + threadIdx.x;
        for (; i + 3 * stride < n; i += 4 * stride) {
            const uint4 a = gpu::load_u4(p + i), b = gpu::load_u4(p + i + stride);
            const uint4 c = gpu::load_u4(p + i + 2 * stride), d = gpu::load_u4(p + i + 3 * stride);
            acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
        }
        for (; i < n; i += stride) {
            const uint4 a = gpu::load_u4(p + i);
            acc ^= a.x ^ a.y ^ a.z ^ a.w;
        }
        if (acc == 0x9E3779B9u && threadIdx.x == 0x7FFFu) sink[0] = make_uint4(acc, 0, 0, 0);
    }
};

/// Median read bandwidth in GB/s (1e9 bytes/s) over `reps` passes over a `bytes` buffer
/// (large enough to defeat the L2 cache).
inline double measure_read_bandwidth_gbs(std::uint64_t bytes = 1ull << 31, int reps = 15) {
    gpu::Stream stream;
    gpu::DeviceBuffer buf(bytes, "allocate bandwidth probe buffer");
    gpu::DeviceBuffer sink(16, "allocate bandwidth probe sink");
    gpu::check(gpu::vendor::memset_async(buf.data(), 0x5A, bytes, stream.get()), "fill bandwidth probe buffer");
    const auto info = gpu::device_info();
    gpu::LaunchConfig cfg;
    cfg.block = dim3(512);
    cfg.grid = dim3(unsigned(info.multiprocessors) * 4);
    const std::uint64_t n = bytes / 16;
    auto run = [&] {
        gpu::launch<StreamReadKernel>("bandwidth probe", stream, cfg, buf.as<const uint4>(), n, sink.as<uint4>());
    };
    run();  // warm-up
    std::vector<double> gbs;
    for (int r = 0; r < reps; ++r) {
        GpuTimer t;
        t.start(stream);
        run();
        t.stop(stream);
        gbs.push_back(double(bytes) / (double(t.elapsed_ms()) * 1e-3) / 1e9);
    }
    std::sort(gbs.begin(), gbs.end());
    return gbs[gbs.size() / 2];
}

}  // namespace greta::bench
#endif  // GRETA_GPU_COMPILER
