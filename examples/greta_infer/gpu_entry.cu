// The GPU side of greta_infer (CUDA or HIP build): the only translation unit that instantiates
// GpuBackend, so its kernels are compiled once and shared by greta_infer, the GPU tests and the
// benchmark program.
#include "gpu_entry.hpp"

#include <greta/bench/bandwidth.hpp>
#include <greta/gpu/runtime.hpp>
#include <greta/model/gpu_backend.hpp>

namespace greta_infer {

#if GRETA_GPU_HIP
using Target = greta::arch::Gfx942;
#else
using Target = greta::arch::Sm90;
#endif

bool gpu_compiled() { return true; }

bool gpu_present() { return greta::gpu::device_count() > 0; }

std::string gpu_device_name() { return gpu_present() ? greta::gpu::device_info().name : std::string("none"); }

std::unique_ptr<greta::model::Backend> make_gpu_backend(const greta::model::ModelWeights& weights,
                                                        const GpuOptions& options) {
    if (!gpu_present()) throw greta::Error("no GPU device found");
#if GRETA_GPU_CUDA
    const auto info = greta::gpu::device_info();
    if (info.cc_major != 9)
        throw greta::Error("this build targets sm_90 (Hopper); the device '" + info.name + "' is sm_" +
                           std::to_string(info.cc_major) + std::to_string(info.cc_minor));
#endif
    greta::model::GpuBackendOptions o;
    o.context = options.context;
    o.use_graph = options.use_graph;
    o.progress = options.progress;
    o.overlap_launches = options.overlap_launches;
    o.profile = options.profile;
    if (options.prefill_min_tokens >= 0) o.prefill_min_tokens = std::uint32_t(options.prefill_min_tokens);
    return std::make_unique<greta::model::GpuBackend<Target>>(weights, o);
}

std::vector<GpuProfileRow> gpu_profile(const greta::model::Backend& backend) {
    std::vector<GpuProfileRow> rows;
    if (const auto* gpu = dynamic_cast<const greta::model::GpuBackend<Target>*>(&backend))
        for (const auto& r : gpu->profile()) rows.push_back({r.launch, r.per_step, r.busy_us, r.gap_us, r.bytes});
    return rows;
}

std::uint64_t gpu_free_bytes() {
    std::size_t free_b = 0, total_b = 0;
    if (!gpu_present() || greta::gpu::vendor::mem_info(&free_b, &total_b) != greta::gpu::success) return 0;
    return free_b;
}

double measure_hbm_bandwidth_gbs() { return greta::bench::measure_read_bandwidth_gbs(); }

std::uint64_t gpu_allocation_count() { return greta::gpu::allocation_counter().load(); }

}  // namespace greta_infer
