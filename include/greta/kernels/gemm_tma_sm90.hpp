#pragma once
/// @file F16 prefill GEMM on Hopper's tensor memory accelerator (TMA) and warpgroup MMA (sm_90a).
///
/// F16 weights are plain fp16 rows, so both operands can be copied by TMA straight into the
/// layout wgmma reads: boxes of 64 k-values (128 bytes) x rows with the 128-byte swizzle, the
/// canonical K-major layout (8-row groups 1024 bytes apart; a k16 slice starts 32 bytes on).
/// Thread 0 issues the copies `stages - 1` steps ahead onto per-stage mbarriers; two warpgroups
/// each multiply 64 tokens x 128 rows (m64n128k16). Activations are read in natural k order
/// (PackArgs::natural). Rows past M or N read zeros (TMA out-of-bounds fill). The epilogue is
/// the mma.sync kernel's, on the same 128 x 128 tile.

#include <cstdint>
#include <cstring>
#include <string>

#include <greta/core/error.hpp>
#include <greta/gpu/bulk_copy.hpp>
#include <greta/kernels/gemm.hpp>

#if GRETA_GPU_CUDA
#include <cuda.h>
#endif

namespace greta::kernels {

/// An opaque TMA tensor map (CUtensorMap): 128 bytes, 64-byte aligned, kept in device memory.
struct alignas(64) TmaDescriptor {
    std::uint64_t bits[16];
};

struct TmaGemmPolicy {
    static constexpr int bm = 128, bn = 128, bk = 64, threads = 256, stages = 6;
    static constexpr std::uint32_t box_rows_a = 128, box_rows_b = 64, box_k = bk;
    static constexpr std::uint32_t a_bytes = bm * bk * 2, b_bytes = bn * bk * 2, stage_bytes = a_bytes + b_bytes;
    static constexpr std::uint32_t bar_offset = stages * stage_bytes;
    static constexpr std::uint32_t smem_bytes = bar_offset + stages * 8;
    static_assert(GemmPolicy<arch::Sm90, DType::F16>::bm == bm && GemmPolicy<arch::Sm90, DType::F16>::bn == bn &&
                      GemmPolicy<arch::Sm90, DType::F16>::threads == threads,
                  "the TMA kernel reuses the mma.sync kernel's epilogue tile");
    static_assert(std::uint32_t(bm) * GemmPolicy<arch::Sm90, DType::F16>::c_stride * 4 <= smem_bytes);
};

#if GRETA_GPU_CUDA
/// Encodes a 2-D fp16 tensor map of `rows` rows of `cols` values (`row_bytes` apart) read in
/// 128-byte-swizzled boxes of 64 values x `box_rows` rows. Host code; the driver entry point is
/// looked up once.
inline TmaDescriptor encode_tma_f16(const void* base, std::uint64_t cols, std::uint64_t rows, std::uint64_t row_bytes,
                                    std::uint32_t box_rows) {
    using Encode = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
    static Encode encode = [] {
        void* fn = nullptr;
        cudaDriverEntryPointQueryResult q{};
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q) != cudaSuccess ||
            q != cudaDriverEntryPointSuccess)
            fn = nullptr;
        return reinterpret_cast<Encode>(fn);
    }();
    check(encode != nullptr, [] { return std::string("the CUDA driver has no cuTensorMapEncodeTiled (TMA)"); });
    CUtensorMap map;
    const cuuint64_t dims[2] = {cols, rows}, strides[1] = {row_bytes};
    const cuuint32_t box[2] = {TmaGemmPolicy::box_k, box_rows}, elem[2] = {1, 1};
    const CUresult r = encode(&map, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, const_cast<void*>(base), dims, strides, box, elem,
                              CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                              CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    check(r == CUDA_SUCCESS, [&] { return "cuTensorMapEncodeTiled failed (" + std::to_string(int(r)) + ")"; });
    TmaDescriptor d;
    static_assert(sizeof(map) == sizeof(d));
    std::memcpy(&d, &map, sizeof d);
    return d;
}
#endif

#if GRETA_GPU_COMPILER && GRETA_GPU_CUDA
namespace tma {
using gpu::smem_addr;

/// Box (k0, row0) of the tensor map at `map` (device memory) into shared memory, counted on `bar`.
GRETA_DEVICE GRETA_ALWAYS_INLINE void load_box(void* dst, const TmaDescriptor* map, int k0, int row0, std::uint64_t* bar) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];" ::"r"(
            smem_addr(dst)),
        "l"(map), "r"(k0), "r"(row0), "r"(smem_addr(bar))
        : "memory");
#endif
}
/// K-major operand with the 128-byte swizzle: 8-row groups 1024 bytes apart (the leading
/// offset is unused in this mode).
GRETA_DEVICE GRETA_ALWAYS_INLINE std::uint64_t descriptor_sw128(const void* smem) {
    const std::uint32_t addr = smem_addr(smem);
    return std::uint64_t((addr >> 4) & 0x3FFF) | std::uint64_t(1) << 16 | std::uint64_t(1024 >> 4) << 32 |
           std::uint64_t(1) << 62;
}

#define GRETA_WGMMA_R8(i) \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
/// d (64 x 128, FP32) (+)= A (64 x 16) * B (16 x 128)^T, both K-major fp16 in shared memory.
GRETA_DEVICE GRETA_ALWAYS_INLINE void mma_m64n128k16(float (&d)[64], std::uint64_t da, std::uint64_t db, bool accumulate) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "%64, %65, p, 1, 1, 0, 0;\n}"
        : GRETA_WGMMA_R8(0), GRETA_WGMMA_R8(8), GRETA_WGMMA_R8(16), GRETA_WGMMA_R8(24), GRETA_WGMMA_R8(32),
          GRETA_WGMMA_R8(40), GRETA_WGMMA_R8(48), GRETA_WGMMA_R8(56)
        : "l"(da), "l"(db), "r"(accumulate ? 1 : 0));
#else
    (void)d, (void)da, (void)db, (void)accumulate;
    GRETA_UNREACHABLE_ARCH("wgmma (sm_90a)");
#endif
}
#undef GRETA_WGMMA_R8
GRETA_DEVICE GRETA_ALWAYS_INLINE void wgmma_fence() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#endif
}
GRETA_DEVICE GRETA_ALWAYS_INLINE void wgmma_commit() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
#endif
}
template <int N>
GRETA_DEVICE GRETA_ALWAYS_INLINE void wgmma_wait() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
#endif
}
}  // namespace tma

/// maps[0]: activations (box 8 x 128), maps[1]: w (box 8 x 64), maps[2]: w2 or w again.
struct GemmTmaF16Kernel {
    using P = TmaGemmPolicy;
    static constexpr int max_block_threads = P::threads;

    GRETA_DEVICE void operator()(GemmArgs a, const TmaDescriptor* maps) const {
        extern __shared__ uint4 smem_u4[];
        auto* smem = reinterpret_cast<unsigned char*>(smem_u4);
        auto* bars = reinterpret_cast<std::uint64_t*>(smem + P::bar_offset);
        const int tid = int(threadIdx.x), wg = tid / 128;
        const std::uint32_t steps = a.w.layout.nsb * (kSbValues / P::bk);
        const int m0 = int(blockIdx.x) * P::bm;
        const bool pair = a.epilogue == GemmEpilogue::SiluPair;
        // Weight rows of the tile's two 64-row halves (SiluPair: gate rows, then the same up rows).
        const int n_lo = pair ? int(blockIdx.y) * (P::bn / 2) : int(blockIdx.y) * P::bn;
        const int n_hi = pair ? n_lo : n_lo + 64;
        const TmaDescriptor* map_hi = pair ? maps + 2 : maps + 1;

        auto a_tile = [&](int s) { return smem + s * P::stage_bytes; };
        auto b_tile = [&](int s) { return smem + s * P::stage_bytes + P::a_bytes; };
        auto load = [&](int s, std::uint32_t step) {
            const int k0 = int(step) * P::bk;
            gpu::barrier_expect(&bars[s], P::stage_bytes);
            tma::load_box(a_tile(s), maps, k0, m0, &bars[s]);
            tma::load_box(b_tile(s), maps + 1, k0, n_lo, &bars[s]);
            tma::load_box(b_tile(s) + 64 * 128, map_hi, k0, n_hi, &bars[s]);
        };

        if (tid == 0) {
            for (int s = 0; s < P::stages; ++s) gpu::barrier_init(&bars[s], 1);
            gpu::fence_barrier_init();
        }
        __syncthreads();
        if (tid == 0)
            for (int s = 0; s + 1 < P::stages; ++s)
                if (std::uint32_t(s) < steps) load(s, std::uint32_t(s));

        float acc[64];  // written first by step 0 (no accumulate)
        for (std::uint32_t step = 0; step < steps; ++step) {
            const int s = int(step % P::stages);
            gpu::barrier_wait(&bars[s], (step / P::stages) & 1u);
            tma::wgmma_fence();
            const unsigned char* at = a_tile(s) + wg * 64 * 128;  // this warpgroup's 64 rows
#pragma unroll
            for (int k = 0; k < P::bk / 16; ++k)
                tma::mma_m64n128k16(acc, tma::descriptor_sw128(at + k * 32), tma::descriptor_sw128(b_tile(s) + k * 32),
                                    step > 0 || k > 0);
            tma::wgmma_commit();
            tma::wgmma_wait<1>();  // step - 1 is done in this warpgroup
            __syncthreads();       // ... and in the other: its stage may be refilled
            const std::uint32_t ahead = step + P::stages - 1;
            if (tid == 0 && ahead < steps) load(int(ahead % P::stages), ahead);
        }
        tma::wgmma_wait<0>();

        float* ct = reinterpret_cast<float*>(smem);
        __syncthreads();
        using C = GemmPolicy<arch::Sm90, DType::F16>;
        const int lane = tid % 32, warp = (tid % 128) / 32, g = lane / 4, c4 = lane % 4;
#pragma unroll
        for (int j = 0; j < 16; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int r = wg * 64 + warp * 16 + g + 8 * (e / 2), col = 8 * j + 2 * c4 + e % 2;
                ct[r * C::c_stride + col] = acc[4 * j + e];
            }
        __syncthreads();
        GemmKernel<arch::Sm90, DType::F16>::epilogue(a, ct, std::uint32_t(m0));
    }
};

/// Y = X W^T with maps made by encode_tma_f16 (in device memory); X in natural k order.
inline void gemm_tma_f16_launch(const gpu::Stream& stream, const GemmArgs& a, const TmaDescriptor* maps) {
    using P = TmaGemmPolicy;
    if (a.m == 0) return;
    gpu::LaunchConfig cfg;
    const bool pair = a.epilogue == GemmEpilogue::SiluPair;
    cfg.grid = dim3((a.m + P::bm - 1) / P::bm, (a.w.layout.rows + (pair ? P::bn / 2 : P::bn) - 1) / (pair ? P::bn / 2 : P::bn));
    cfg.block = dim3(P::threads);
    cfg.shared_bytes = P::smem_bytes;
    gpu::launch<GemmTmaF16Kernel>("prefill GEMM (TMA, F16)", stream, cfg, a, maps);
}
#endif  // GRETA_GPU_COMPILER && GRETA_GPU_CUDA

}  // namespace greta::kernels
