#pragma once
/// @file Embedding lookup: dequantizes one row of a device matrix (the token's) into FP32.
/// Also the device-side dequantizer of the repacked layouts, which tests compare with
/// llama.cpp's reference dequantization.

#include <cstdint>

#include <greta/arch/arch.hpp>
#include <greta/gpu/intrinsics.hpp>
#include <greta/gpu/launch.hpp>
#include <greta/kernels/formats.hpp>
#include <greta/kernels/gemv.hpp>

namespace greta::kernels {

#if GRETA_GPU_COMPILER
/// Lane c's payload chunks and scale data of super-block sb of `row`, loaded directly (the
/// GEMV stages them instead).
template <DType T>
GRETA_DEVICE GRETA_ALWAYS_INLINE void load_lane_super_block(const DeviceMatrix& m, std::uint32_t row, std::uint32_t sb,
                                                            int c, uint4 (&v)[Format<T>::payload_u4], MetaRegs& mr) {
    const MatrixLayout& L = m.layout;
    const std::byte* p = m.payload + L.payload_offset(row) + std::uint64_t(sb) * L.payload_step() + c * 16;
#pragma unroll
    for (int n = 0; n < Format<T>::payload_u4; ++n) v[n] = gpu::load_u4(p + n * 64);
    Format<T>::load_meta(m.meta + L.meta_offset(row) + std::uint64_t(sb) * L.meta_step(),
                         m.aux + L.aux_offset(row) + std::uint64_t(sb) * L.aux_step(), c, mr);
}

/// out[k] = W[row][k] for k < K, row = *token when token is set, else `row`. Each thread
/// decodes one lane's 64 values of one super-block (the GEMV's own slot decoding).
template <class Arch, DType T>
struct EmbedKernel {
    using F = Format<T>;
    static constexpr int max_block_threads = 256;

    GRETA_DEVICE void operator()(DeviceMatrix m, const std::int32_t* token, std::uint32_t row, float* out,
                                 gpu::KernelTrace trace) const {
        trace.mark(gpu::KernelTrace::Start);
        const gpu::TraceEndGuard trace_end{trace};
        gpu::allow_dependents();
        gpu::wait_for_producers();
        trace.mark(gpu::KernelTrace::Waited);
        const MatrixLayout L = m.layout;
        // Several tokens (prefill): block row y embeds token[y] into out + y * K.
        out += std::uint64_t(blockIdx.y) * L.k;
        if (token) row = std::uint32_t(token[blockIdx.y]);
        if (row >= L.rows) return;  // the generator validates ids; never read out of bounds
        const std::uint32_t work = L.nsb * kSbLanes;
        for (std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < work; i += gridDim.x * blockDim.x) {
            const std::uint32_t sb = i / kSbLanes;
            const int c = int(i % kSbLanes);
            uint4 v[F::payload_u4];
            MetaRegs mr;
            load_lane_super_block<T>(m, row, sb, c, v, mr);
            float sc[F::chains], mn[F::chains];
            F::chain_scales(mr, c, sc, mn);
#pragma unroll
            for (int t = 0; t < kSlots; ++t) {
                float q[4];
                F::slot_codes(v, t, q);
                const int ch = t / F::chain_slots;
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const std::uint32_t k = sb * kSbValues + std::uint32_t(F::kmap(c, t, j));
                    if (k < L.k) out[k] = sc[ch] * q[j] - mn[ch];
                }
            }
        }
    }
};

template <class Arch, DType T>
void embed_launch(const gpu::Stream& stream, const DeviceMatrix& m, const std::int32_t* token, std::uint32_t row,
                  float* out, bool overlap_previous = false, gpu::KernelTrace trace = {}) {
    gpu::LaunchConfig cfg;
    const std::uint32_t work = m.layout.nsb * kSbLanes;
    cfg.block = dim3(work < 256 ? ((work + 31) / 32) * 32 : 256);
    cfg.grid = dim3((work + cfg.block.x - 1) / cfg.block.x);
    cfg.overlap_previous = overlap_previous;
    gpu::launch<EmbedKernel<Arch, T>>("embedding", stream, cfg, m, token, row, out, trace);
}
/// out[i][k] = W[tokens[i]][k] for i < count (a prompt chunk).
template <class Arch, DType T>
void embed_rows_launch(const gpu::Stream& stream, const DeviceMatrix& m, const std::int32_t* tokens, std::uint32_t count,
                       float* out) {
    if (count == 0) return;
    gpu::LaunchConfig cfg;
    const std::uint32_t work = m.layout.nsb * kSbLanes;
    cfg.block = dim3(work < 256 ? ((work + 31) / 32) * 32 : 256);
    cfg.grid = dim3((work + cfg.block.x - 1) / cfg.block.x, count);
    gpu::launch<EmbedKernel<Arch, T>>("embedding (prompt)", stream, cfg, m, tokens, 0u, out, gpu::KernelTrace{});
}
#endif  // GRETA_GPU_COMPILER

}  // namespace greta::kernels
