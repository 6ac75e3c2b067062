#pragma once
/// @file A quantized device matrix dequantized to plain fp16 rows in natural k order: the
/// input of the TMA + wgmma prefill GEMM (gemm_tma_sm90.hpp), which then serves every weight
/// format. The fp16 values are dequant_half.hpp's, the ones the mma.sync GEMM multiplies, so
/// both prefill paths multiply the same weights.
///
/// A block takes 64 rows of one super-block: each thread decodes one lane's 64 values into a
/// shared-memory tile in natural order (a slot's four values are four consecutive k), then the
/// tile leaves as 16-byte stores, each warp writing one row's 512 contiguous bytes.

#include <cstdint>

#include <greta/arch/arch.hpp>
#include <greta/gpu/intrinsics.hpp>
#include <greta/gpu/launch.hpp>
#include <greta/kernels/dequant_half.hpp>
#include <greta/kernels/embed.hpp>
#include <greta/kernels/formats.hpp>
#include <greta/kernels/gemv.hpp>

namespace greta::kernels {

struct DequantRowsPolicy {
    static constexpr int rows = 64, threads = rows * kSbLanes;
    static constexpr int tile_stride = kSbValues + 8;  ///< halves per tile row (padding against bank conflicts)
};

#if GRETA_GPU_COMPILER
/// out[r][k] = fp16(W[r][k]) for r < rows, k < nsb * 256 (K padding included: zero weights).
template <class Arch, DType T>
struct DequantRowsKernel {
    using P = DequantRowsPolicy;
    static constexpr int max_block_threads = P::threads;

    GRETA_DEVICE void operator()(DeviceMatrix m, std::uint16_t* out) const {
        using F = Format<T>;
        __shared__ uint4 tile_u4[P::rows * P::tile_stride / 8];  // uint4: 16-byte aligned rows
        auto* tile = reinterpret_cast<std::uint16_t*>(tile_u4);
        const MatrixLayout L = m.layout;
        const std::uint32_t sb = blockIdx.x, row0 = blockIdx.y * P::rows;
        const int tid = int(threadIdx.x), r = tid / kSbLanes, c = tid % kSbLanes;
        const std::uint32_t row = row0 + std::uint32_t(r);
        if (row < L.rows) {
            uint4 v[F::payload_u4];
            MetaRegs mr;
            load_lane_super_block<T>(m, row, sb, c, v, mr);
            const HalfScales<T> hs = half_scales<T>(mr, c);
            std::uint16_t* dst = tile + r * P::tile_stride;
#pragma unroll
            for (int t = 0; t < kSlots; ++t) {
                std::uint32_t w01, w23;
                slot_weights_half<T>(v, t, hs, w01, w23);
                // Naturals base .. base + 3 hold j = 0, 1, 2, 3, or j = 0, 2, 1, 3 for formats
                // whose slots are filled by slot_byte().
                uint2 four = make_uint2(w01, w23);
                if constexpr (F::slot_swapped) four = make_uint2(__byte_perm(w01, w23, 0x5410), __byte_perm(w01, w23, 0x7632));
                *reinterpret_cast<uint2*>(dst + F::kmap(c, t, 0)) = four;
            }
        }
        __syncthreads();
        // 32 chunks of 16 bytes per row: warp w writes rows w, w + warps, ...
        constexpr int chunks = kSbValues / 8, warps = P::threads / 32;
        const std::uint64_t k_total = std::uint64_t(L.nsb) * kSbValues;
        for (int rr = tid / chunks; rr < P::rows; rr += warps) {
            if (row0 + std::uint32_t(rr) >= L.rows) break;
            const int ch = tid % chunks;
            const uint4 val = *reinterpret_cast<const uint4*>(tile + rr * P::tile_stride + ch * 8);
            *reinterpret_cast<uint4*>(out + (row0 + std::uint32_t(rr)) * k_total + sb * kSbValues + ch * 8) = val;
        }
    }
};

/// Launches DequantRowsKernel over the whole matrix (rows x nsb * 256 halves into `out`).
template <class Arch, DType T>
void dequant_rows_launch(const gpu::Stream& stream, const DeviceMatrix& m, std::uint16_t* out) {
    using P = DequantRowsPolicy;
    gpu::LaunchConfig cfg;
    cfg.block = dim3(P::threads);
    cfg.grid = dim3(m.layout.nsb, (m.layout.rows + P::rows - 1) / P::rows);
    gpu::launch<DequantRowsKernel<Arch, T>>("dequantize weights to fp16 rows", stream, cfg, m, out);
}
#endif  // GRETA_GPU_COMPILER

}  // namespace greta::kernels
