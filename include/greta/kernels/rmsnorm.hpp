#pragma once
/// @file Standalone RMSNorm, y = x / sqrt(mean(x^2) + eps) * w, FP32 reduction. The decode
/// path fuses the norm into the following GEMV's prologue (gemv.hpp); this kernel serves
/// callers that need the normalized vector itself (validation, hidden-state capture).

#include <cstdint>

#include <greta/arch/arch.hpp>
#include <greta/gpu/intrinsics.hpp>
#include <greta/gpu/launch.hpp>

namespace greta::kernels {

#if GRETA_GPU_COMPILER
template <class Arch>
struct RmsNormKernel {
    static constexpr int max_block_threads = 256;

    GRETA_DEVICE void operator()(const float* x, const float* w, float* y, std::uint32_t n, float eps) const {
        __shared__ float scratch[max_block_threads / 32 + 1];
        gpu::allow_dependents();
        gpu::wait_for_producers();
        float ss = 0.0f;
        for (std::uint32_t i = threadIdx.x; i < n; i += blockDim.x) ss = fmaf(x[i], x[i], ss);
        const float total = gpu::block_sum<Arch>(ss, scratch);
        const float scale = 1.0f / sqrtf(total / float(n) + eps);
        for (std::uint32_t i = threadIdx.x; i < n; i += blockDim.x) y[i] = x[i] * scale * w[i];
    }
};

template <class Arch>
void rmsnorm_launch(const gpu::Stream& stream, const float* x, const float* w, float* y, std::uint32_t n, float eps) {
    gpu::LaunchConfig cfg;
    cfg.block = dim3(256);
    gpu::launch<RmsNormKernel<Arch>>("rmsnorm", stream, cfg, x, w, y, n, eps);
}
#endif  // GRETA_GPU_COMPILER

}  // namespace greta::kernels
