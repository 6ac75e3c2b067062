#pragma once
/// @file Activations for the prefill GEMM: rows of FP32 values (optionally RMS-normalized) packed
/// as fp16 in the k order the matrix-core atom reads (mma_atom.hpp) for a given weight format.
///
/// Within each 256-value super-block, position 16 t + k' holds the value that device lane c's
/// slot t weight j multiplies, where (c, j) = MmaAtom::lane_value(k'): a 16 x 16 tile of the
/// packed rows is then exactly the A fragment of slot t. Rows are padded with zeros to whole
/// super-blocks (the weights are padded the same way).

#include <cmath>
#include <cstdint>

#include <greta/arch/arch.hpp>
#include <greta/core/dtype.hpp>
#include <greta/kernels/formats.hpp>
#include <greta/kernels/mma_atom.hpp>

#if GRETA_GPU_COMPILER
#include <greta/gpu/intrinsics.hpp>
#include <greta/gpu/launch.hpp>
#endif

namespace greta::kernels {

/// Halves per packed row for a K-long input.
constexpr std::uint32_t packed_row_halves(std::uint32_t k) { return (k + kSbValues - 1) / kSbValues * kSbValues; }

/// Index in the source row of packed position p (< packed_row_halves(K)); may be >= K (padding).
template <class Arch, DType T>
GRETA_HOST_DEVICE constexpr std::uint32_t packed_source_index(std::uint32_t p) {
    const std::uint32_t sb = p / kSbValues, r = p % kSbValues;
    int c = 0, j = 0;
    MmaAtom<Arch>::lane_value(int(r % 16), c, j);
    return sb * kSbValues + std::uint32_t(Format<T>::kmap(c, int(r / 16), j));
}

/// Where source index k of a row lands in the packed order of format t, for producers that
/// write packed rows themselves (rows must then be whole super-blocks: nothing pads them).
template <class Arch>
GRETA_HOST_DEVICE constexpr std::uint32_t packed_position(DType t, std::uint32_t k) {
    int c = 0, slot = 0, j = 0;
    const int r = int(k % kSbValues);
    switch (t) {
        case DType::Q4_K: Format<DType::Q4_K>::slot_of(r, c, slot, j); break;
        case DType::Q6_K: Format<DType::Q6_K>::slot_of(r, c, slot, j); break;
        case DType::Q8_0: Format<DType::Q8_0>::slot_of(r, c, slot, j); break;
        case DType::F32: Format<DType::F32>::slot_of(r, c, slot, j); break;
        default: Format<DType::F16>::slot_of(r, c, slot, j); break;  // F16, BF16
    }
    return k - std::uint32_t(r) + std::uint32_t(16 * slot + MmaAtom<Arch>::kprime(c, j));
}

/// A producer's optional fp16 output in the packed order of its consumer's format.
struct PackedOut {
    std::uint16_t* out = nullptr;  ///< [rows][stride]; null: the producer writes FP32 only
    std::uint32_t stride = 0;      ///< halves per row (the row length, a multiple of 256)
    DType type = DType::F16;       ///< the consumer's weight format
    bool natural = false;          ///< the consumer reads natural k order (TMA GEMM)
    template <class Arch>
    GRETA_HOST_DEVICE std::uint32_t position(std::uint32_t k) const {
        return natural ? k : packed_position<Arch>(type, k);
    }
};

struct PackArgs {
    const float* x = nullptr;     ///< [rows][x_stride] FP32
    std::uint32_t x_stride = 0;
    std::uint32_t k = 0;          ///< values per row
    const float* norm = nullptr;  ///< RMSNorm weight [k], or null for a plain conversion
    float eps = 1e-5f;
    std::uint16_t* out = nullptr;  ///< [rows][packed_row_halves(k)] fp16
    bool natural = false;          ///< natural k order (for the TMA GEMM) instead of the atom's
};

#if GRETA_GPU_COMPILER
/// One block per row: the sum of squares (when normalizing), then every packed position.
template <class Arch, DType T>
struct PackActivationsKernel {
    static constexpr int max_block_threads = 256;
    GRETA_DEVICE void operator()(PackArgs a) const {
        __shared__ float scratch[max_block_threads / arch::arch_traits<Arch>::wave_size + 1];
        const float* x = a.x + std::uint64_t(blockIdx.x) * a.x_stride;
        float scale = 1.0f;
        if (a.norm) {
            float ss = 0.0f;
            for (std::uint32_t i = threadIdx.x; i < a.k; i += blockDim.x) ss = fmaf(x[i], x[i], ss);
            const float total = gpu::block_sum<Arch>(ss, scratch);
            scale = 1.0f / sqrtf(total / float(a.k) + a.eps);
        }
        const std::uint32_t halves = packed_row_halves(a.k);
        std::uint32_t* out = reinterpret_cast<std::uint32_t*>(a.out + std::uint64_t(blockIdx.x) * halves);
        for (std::uint32_t p = 2 * threadIdx.x; p < halves; p += 2 * blockDim.x) {
            float v[2];
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const std::uint32_t i = a.natural ? p + std::uint32_t(e) : packed_source_index<Arch, T>(p + std::uint32_t(e));
                v[e] = i < a.k ? x[i] * scale * (a.norm ? a.norm[i] : 1.0f) : 0.0f;
            }
            const __half2 h = __floats2half2_rn(v[0], v[1]);
            std::uint32_t w;
            __builtin_memcpy(&w, &h, 4);
            out[p / 2] = w;
        }
    }
};

template <class Arch, DType T>
void pack_activations_launch(const gpu::Stream& stream, const PackArgs& a, std::uint32_t rows) {
    gpu::LaunchConfig cfg;
    cfg.grid = dim3(rows);
    cfg.block = dim3(256);
    gpu::launch<PackActivationsKernel<Arch, T>>("pack activations", stream, cfg, a);
}
#endif  // GRETA_GPU_COMPILER

}  // namespace greta::kernels
