#pragma once
// The GPU side of greta_infer, seen from host-only code. Defined by gpu_entry.cu in GPU builds
// and by gpu_entry_stub.cpp in host-only builds.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <greta/model/backend.hpp>
#include <greta/model/weights.hpp>

namespace greta_infer {

struct GpuOptions {
    std::uint32_t context = 0;
    bool use_graph = true;
    bool progress = true;
    /// Let each kernel start while the previous one drains (Hopper programmatic launch).
    bool overlap_launches = true;
    /// Time every launch of the decode step (read with gpu_profile()).
    bool profile = false;
    /// Prompts of at least this many tokens use the matrix-core prefill path (0: never);
    /// negative keeps the backend's default.
    int prefill_min_tokens = -1;
};

/// One launch kind of the decode step, per step, averaged over the steps run so far.
struct GpuProfileRow {
    std::string launch;
    int per_step = 0;
    double busy_us = 0, gap_us = 0, bytes = 0;
};

bool gpu_compiled();
bool gpu_present();
std::string gpu_device_name();
std::unique_ptr<greta::model::Backend> make_gpu_backend(const greta::model::ModelWeights& weights,
                                                        const GpuOptions& options);
/// Device-memory read bandwidth measured with a streaming kernel, GB/s.
double measure_hbm_bandwidth_gbs();
/// Profile of a backend made with GpuOptions::profile (empty otherwise).
std::vector<GpuProfileRow> gpu_profile(const greta::model::Backend& backend);
/// Free device memory in bytes (0 without a GPU).
std::uint64_t gpu_free_bytes();
/// Device and pinned allocations made so far (tests: a decode step must add none).
std::uint64_t gpu_allocation_count();

}  // namespace greta_infer
