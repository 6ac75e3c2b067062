// Host-only build of greta_infer: no GPU backend.
#include "gpu_entry.hpp"

#include <greta/core/error.hpp>

namespace greta_infer {

bool gpu_compiled() { return false; }
bool gpu_present() { return false; }
std::string gpu_device_name() { return "none"; }
std::unique_ptr<greta::model::Backend> make_gpu_backend(const greta::model::ModelWeights&, const GpuOptions&) {
    throw greta::Error("built without GPU support; rebuild with -Dgpu=cuda");
}
std::vector<GpuProfileRow> gpu_profile(const greta::model::Backend&) { return {}; }
double measure_hbm_bandwidth_gbs() { return 0.0; }
std::uint64_t gpu_free_bytes() { return 0; }
std::uint64_t gpu_allocation_count() { return 0; }

}  // namespace greta_infer
