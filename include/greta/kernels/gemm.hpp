#pragma once
/// @file Prefill GEMM Y = X W^T on the matrix cores: X is [M tokens x K] activations packed as fp16
/// (pack_activations.hpp), W an [N x K] device matrix in any format of formats.hpp, dequantized
/// to fp16 in registers and multiplied with MmaAtom<Arch> (mma.sync on sm_90, MFMA on gfx942)
/// into FP32 accumulators.
///
/// A block computes a BM x BN tile (tokens x weight rows) with warps_m x warps_n waves, each
/// wave mt x nt atoms. The K loop runs one super-block (256 values) per step: the activation tile
/// and each lane's own weight bytes (the 16-byte loads of formats.hpp) are staged in shared
/// memory `stages` deep (cp.async on sm_90), so the next step's bytes are in flight while the
/// matrix cores work on this one. Per slot t (one k16 range) a wave loads its A fragments once
/// and reuses each dequantized B fragment for its mt atoms.
///
/// The epilogue goes through shared memory (the accumulators of any atom become a plain FP32
/// tile), so every consumer is written once for both targets: store, residual add, SwiGLU
/// (gate and up rows side by side in one tile), RoPE of adjacent pairs, and K/V written into
/// the FP16 cache at positions pos0 + m.

#include <cstdint>
#include <type_traits>

#include <greta/arch/arch.hpp>
#include <greta/core/dtype.hpp>
#include <greta/kernels/dequant_half.hpp>
#include <greta/kernels/formats.hpp>
#include <greta/kernels/gemv.hpp>
#include <greta/kernels/mma_atom.hpp>
#include <greta/kernels/pack_activations.hpp>

#if GRETA_GPU_COMPILER
#include <greta/gpu/intrinsics.hpp>
#include <greta/gpu/launch.hpp>
#endif

namespace greta::kernels {

enum class GemmEpilogue : std::uint32_t {
    Store,        ///< out[m][n] = y
    Add,          ///< out[m][n] += y (residual stream)
    SiluPair,     ///< out[m][n] = silu(gate) * up, gate rows from w, up rows from w2 (or into `packed`)
    MulSilu,      ///< out[m][n] = silu(other[m][n]) * y (up projection after a separate gate)
    RopeStore,    ///< rotate adjacent pairs by position pos0 + m, out[m][n] = y (queries)
    RopeToCache,  ///< rotate, cache[pos0 + m][n] = fp16(y) (keys)
    ToCache,      ///< cache[pos0 + m][n] = fp16(y) (values)
};

struct GemmArgs {
    const std::uint16_t* x = nullptr;  ///< packed activations [M][packed_row_halves(K)]
    std::uint32_t m = 0;               ///< tokens
    DeviceMatrix w;
    DeviceMatrix w2;                   ///< SiluPair: the up projection
    GemmEpilogue epilogue = GemmEpilogue::Store;
    float* out = nullptr;              ///< [M][out_stride]
    std::uint32_t out_stride = 0;
    const float* other = nullptr;      ///< MulSilu: gate values, same layout as out
    std::uint16_t* cache = nullptr;    ///< ToCache/RopeToCache: this layer's fp16 cache
    std::uint32_t cache_stride = 0;    ///< cache elements per position
    std::uint32_t pos0 = 0;            ///< position of token 0 (RoPE, cache)
    const float2* rope = nullptr;      ///< [position][head_dim/2] (cos, sin)
    std::uint32_t head_dim = 0;
    PackedOut packed;                  ///< SiluPair: write fp16 packed for the down projection instead
};

/// Tile geometry per target and format, fixed at compile time.
template <class Arch, DType T>
struct GemmPolicy {
    using F = Format<T>;
    using Atom = MmaAtom<Arch>;
    static constexpr bool hopper = std::is_same_v<Arch, arch::Sm90>;
    static constexpr int wave = arch::arch_traits<Arch>::wave_size;
    /// Float formats other than F16 keep fewer rows per wave: their bytes per slot are wider.
    static constexpr bool narrow = T == DType::F32 || T == DType::BF16;
    static constexpr int warps_m = 2;
    static constexpr int warps_n = hopper ? 4 : (narrow ? 1 : 2);
    static constexpr int mt = hopper ? 4 : 2;  ///< atoms along M per wave
    static constexpr int nt = narrow ? 1 : (hopper ? 4 : 2);
    /// Steps per super-block: F16 rows carry 512 bytes per super-block, so its K loop takes half
    /// a super-block (slots 0-7, then 8-15: payload cells 0-3, then 4-7) per step, which keeps
    /// the wide tile and three stages within shared memory.
    static constexpr int parts = T == DType::F16 ? 2 : 1;
    static constexpr int part_slots = kSlots / parts, part_values = kSbValues / parts;
    static_assert(parts == 1 || F::meta_bytes + F::aux_bytes == 0, "split super-blocks carry no scales");
    static constexpr int wm = mt * Atom::m, wn = nt * Atom::n;
    static constexpr int bm = warps_m * wm, bn = warps_n * wn;
    static constexpr int threads = warps_m * warps_n * wave;
    /// cp.async double buffering on Hopper; one synchronous stage where copies go through registers.
    static constexpr int stages = hopper ? (parts == 2 ? 3 : 2) : 1;
    /// Activation rows padded by 8 halves: ldmatrix rows then fall in different banks.
    static constexpr int a_stride = part_values + 8;
    static constexpr int meta_chunks = F::meta_bytes ? 1 : 0, aux_chunks = F::aux_bytes ? 1 : 0;
    static constexpr int part_u4 = F::payload_u4 / parts;
    static constexpr int chunks = part_u4 + meta_chunks + aux_chunks;  ///< 16-byte cells per lane per row and step
    static constexpr std::uint32_t a_bytes = std::uint32_t(bm) * a_stride * 2;
    static constexpr std::uint32_t b_bytes = std::uint32_t(warps_n) * chunks * nt * wave * 16;
    static constexpr std::uint32_t stage_bytes = a_bytes + b_bytes;
    static constexpr int c_stride = bn + 4;  ///< FP32 epilogue tile row stride
    static constexpr std::uint32_t c_bytes = std::uint32_t(bm) * c_stride * 4;
    static constexpr std::uint32_t smem_bytes = stages * stage_bytes > c_bytes ? stages * stage_bytes : c_bytes;
    static_assert(bm % Atom::m == 0 && bn % 4 == 0 && (bn / 2) % 2 == 0, "pairs of columns in the epilogue");
    static_assert(smem_bytes <= arch::arch_traits<Arch>::shared_bytes_opt_in, "GEMM tile exceeds shared memory");
    static_assert(threads <= 1024);

    /// Blocks along N: SiluPair tiles hold bn/2 gate and bn/2 up rows.
    static constexpr std::uint32_t col_blocks(std::uint32_t rows, bool pair) {
        const std::uint32_t per = pair ? std::uint32_t(bn / 2) : std::uint32_t(bn);
        return (rows + per - 1) / per;
    }
};

#if GRETA_GPU_COMPILER
template <class Arch, DType T>
struct GemmKernel {
    using P = GemmPolicy<Arch, T>;
    using F = Format<T>;
    using Atom = MmaAtom<Arch>;
    static constexpr int max_block_threads = P::threads;

    GRETA_DEVICE void operator()(GemmArgs a) const {
        constexpr int W = P::wave, MT = P::mt, NT = P::nt, PU = F::payload_u4;
        extern __shared__ uint4 smem_u4[];
        auto* smem = reinterpret_cast<unsigned char*>(smem_u4);
        const int tid = int(threadIdx.x), lane = tid % W, warp = tid / W;
        const int warp_m = warp % P::warps_m, warp_n = warp / P::warps_m;
        const int c = Atom::b_c(lane);
        const MatrixLayout L = a.w.layout;
        const std::uint32_t nsb = L.nsb, x_stride = nsb * kSbValues;
        const std::uint32_t m0 = blockIdx.x * P::bm;
        const bool pair = a.epilogue == GemmEpilogue::SiluPair;

        // This lane's weight rows (one per atom column tile); past-the-end rows read row 0.
        const std::byte* prow[NT];
        const std::byte* mrow[NT];
        const std::byte* arow[NT];
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int col = warp_n * P::wn + t * Atom::n + Atom::b_row(lane);
            // Selects, not a pointer to the kernel parameter (that would copy it to the stack).
            const bool second = pair && col >= P::bn / 2;
            std::uint32_t row = pair ? blockIdx.y * (P::bn / 2) + std::uint32_t(col % (P::bn / 2))
                                     : blockIdx.y * P::bn + std::uint32_t(col);
            if (row >= L.rows) row = 0;
            prow[t] = (second ? a.w2.payload : a.w.payload) + L.payload_offset(row) + c * 16;
            mrow[t] = (second ? a.w2.meta : a.w.meta) + L.meta_offset(row);
            arow[t] = (second ? a.w2.aux : a.w.aux) + L.aux_offset(row);
        }

        auto a_tile = [&](int stage) { return reinterpret_cast<std::uint16_t*>(smem + stage * P::stage_bytes); };
        // Weight cell (chunk ch of atom column t) of this lane: [warp_n][ch][t][lane].
        auto b_cell = [&](int stage, int ch, int t) {
            return smem + stage * P::stage_bytes + P::a_bytes +
                   ((std::uint32_t(warp_n * P::chunks + ch) * NT + std::uint32_t(t)) * W + std::uint32_t(lane)) * 16u;
        };

        // Step `step` = part (step % parts) of super-block step / parts.
        auto issue = [&](int stage, std::uint32_t step) {
            const std::uint32_t sb = step / P::parts, part = step % P::parts;
            // Activations: bm rows x (part_values / 8) cells of 16 bytes, all threads; rows past M are zeros.
            constexpr int cells = P::part_values / 8;
            std::uint16_t* at = a_tile(stage);
            for (int q = tid; q < P::bm * cells; q += P::threads) {
                const int r = q / cells, piece = q % cells;
                const std::uint32_t m = m0 + std::uint32_t(r);
                const std::uint16_t* src =
                    a.x + std::uint64_t(m < a.m ? m : 0) * x_stride + sb * kSbValues + part * P::part_values + piece * 8;
                gpu::stage_copy16(at + r * P::a_stride + piece * 8, src, m >= a.m);
            }
            // Weights: the waves sharing warp_n split the cells of their common rows.
#pragma unroll
            for (int t = 0; t < NT; ++t) {
#pragma unroll
                for (int n = 0; n < P::part_u4; ++n)
                    if (n % P::warps_m == warp_m)
                        gpu::stage_copy16(b_cell(stage, n, t),
                                          prow[t] + std::uint64_t(sb) * L.payload_step() + (part * P::part_u4 + n) * 64);
                if constexpr (P::meta_chunks > 0) {
                    if (P::part_u4 % P::warps_m == warp_m) {
                        const std::byte* mp = mrow[t] + std::uint64_t(sb) * L.meta_step() + F::meta_lane_offset(c);
                        if constexpr (F::meta_lane_bytes == 16) gpu::stage_copy16(b_cell(stage, P::part_u4, t), mp);
                        else gpu::stage_copy4(b_cell(stage, P::part_u4, t), mp);
                    }
                }
                if constexpr (P::aux_chunks > 0) {
                    if ((P::part_u4 + 1) % P::warps_m == warp_m)
                        gpu::stage_copy4(b_cell(stage, P::part_u4 + P::meta_chunks, t), arow[t] + std::uint64_t(sb) * L.aux_step());
                }
            }
        };

        float acc[MT][NT][Atom::acc];
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int t = 0; t < NT; ++t)
#pragma unroll
                for (int e = 0; e < Atom::acc; ++e) acc[i][t][e] = 0.0f;

        const std::uint32_t steps = nsb * P::parts;
#pragma unroll
        for (int s = 0; s + 1 < P::stages; ++s) {
            if (std::uint32_t(s) < steps) issue(s, std::uint32_t(s));
            gpu::stage_commit();
        }
        uint4 v[NT][PU];  // this lane's payload; a split super-block fills it one part per step
        HalfScales<T> hs[NT];
        for (std::uint32_t sb = 0; sb < nsb; ++sb) {
#pragma unroll
            for (int part = 0; part < P::parts; ++part) {
                const std::uint32_t step = sb * P::parts + std::uint32_t(part);
                const int stage = int(step % P::stages);
                if constexpr (P::stages > 1) {
                    const std::uint32_t ahead = step + P::stages - 1;
                    if (ahead < steps) issue(int(ahead % P::stages), ahead);
                    gpu::stage_commit();
                    gpu::stage_wait<P::stages - 1>();
                } else {
                    issue(stage, step);
                }
                __syncthreads();

#pragma unroll
                for (int t = 0; t < NT; ++t) {
#pragma unroll
                    for (int n = 0; n < P::part_u4; ++n)
                        v[t][part * P::part_u4 + n] = *reinterpret_cast<const uint4*>(b_cell(stage, n, t));
                    if (part == 0) {
                        MetaRegs mr;
                        if constexpr (P::meta_chunks > 0) {
                            if constexpr (F::meta_lane_bytes == 16) {
                                const uint4 m4 = *reinterpret_cast<const uint4*>(b_cell(stage, P::part_u4, t));
                                mr.w[0] = m4.x, mr.w[1] = m4.y, mr.w[2] = m4.z, mr.w[3] = m4.w;
                            } else {
                                mr.w[0] = *reinterpret_cast<const std::uint32_t*>(b_cell(stage, P::part_u4, t));
                            }
                        }
                        if constexpr (P::aux_chunks > 0)
                            mr.aux = *reinterpret_cast<const std::uint32_t*>(b_cell(stage, P::part_u4 + P::meta_chunks, t)) &
                                     0xFFFFu;
                        hs[t] = half_scales<T>(mr, c);
                    }
                }

                const std::uint16_t* at = a_tile(stage) + warp_m * P::wm * P::a_stride;
#pragma unroll
                for (int i_slot = 0; i_slot < P::part_slots; ++i_slot) {
                    const int slot = part * P::part_slots + i_slot;
                    std::uint32_t af[MT][Atom::a_regs];
#pragma unroll
                    for (int i = 0; i < MT; ++i)
                        Atom::load_a(af[i], at + i * Atom::m * P::a_stride + i_slot * 16, P::a_stride, lane);
#pragma unroll
                    for (int t = 0; t < NT; ++t) {
                        std::uint32_t b01, b23;
                        slot_weights_half<T>(v[t], slot, hs[t], b01, b23);
#pragma unroll
                        for (int i = 0; i < MT; ++i) Atom::mma(acc[i][t], af[i], b01, b23);
                    }
                }
                __syncthreads();  // the stage is refilled next
            }
        }
        gpu::stage_wait<0>();

        // ---- epilogue through an FP32 tile in shared memory ----
        float* ct = reinterpret_cast<float*>(smem);
        __syncthreads();
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int t = 0; t < NT; ++t)
#pragma unroll
                for (int e = 0; e < Atom::acc; ++e) {
                    const int r = warp_m * P::wm + i * Atom::m + Atom::acc_row(lane, e);
                    const int col = warp_n * P::wn + t * Atom::n + Atom::acc_col(lane, e);
                    ct[r * P::c_stride + col] = acc[i][t][e];
                }
        __syncthreads();
        epilogue(a, ct, m0);
    }

    GRETA_DEVICE static float silu(float g) { return g / (1.0f + expf(-g)); }

    GRETA_DEVICE static void epilogue(const GemmArgs& a, const float* ct, std::uint32_t m0) {
        const std::uint32_t rows = a.w.layout.rows;
        if (a.epilogue == GemmEpilogue::SiluPair) {
            constexpr int half = P::bn / 2;
            for (int q = int(threadIdx.x); q < P::bm * half; q += P::threads) {
                const int r = q / half, j = q % half;
                const std::uint32_t m = m0 + std::uint32_t(r), n = blockIdx.y * half + std::uint32_t(j);
                if (m >= a.m || n >= rows) continue;
                const float h = silu(ct[r * P::c_stride + j]) * ct[r * P::c_stride + half + j];
                if (a.packed.out)
                    a.packed.out[std::uint64_t(m) * a.packed.stride + a.packed.template position<Arch>(n)] =
                        gpu::f32_to_half_bits(h);
                else
                    a.out[std::uint64_t(m) * a.out_stride + n] = h;
            }
            return;
        }
        constexpr int pairs = P::bn / 2;
        for (int q = int(threadIdx.x); q < P::bm * pairs; q += P::threads) {
            const int r = q / pairs, j = 2 * (q % pairs);
            const std::uint32_t m = m0 + std::uint32_t(r), n = blockIdx.y * P::bn + std::uint32_t(j);
            if (m >= a.m || n >= rows) continue;
            const bool both = n + 1 < rows;
            float y0 = ct[r * P::c_stride + j], y1 = ct[r * P::c_stride + j + 1];
            const std::uint64_t o = std::uint64_t(m) * a.out_stride + n;
            const std::uint32_t pos = a.pos0 + m;
            switch (a.epilogue) {
                case GemmEpilogue::Store:
                    a.out[o] = y0;
                    if (both) a.out[o + 1] = y1;
                    break;
                case GemmEpilogue::Add:
                    a.out[o] += y0;
                    if (both) a.out[o + 1] += y1;
                    break;
                case GemmEpilogue::MulSilu:
                    a.out[o] = silu(a.other[o]) * y0;
                    if (both) a.out[o + 1] = silu(a.other[o + 1]) * y1;
                    break;
                case GemmEpilogue::RopeStore:
                case GemmEpilogue::RopeToCache: {
                    // Rows n, n + 1 are a rotation pair (head_dim is even, n is even).
                    const float2 cs = a.rope[std::uint64_t(pos) * (a.head_dim / 2) + (n % a.head_dim) / 2];
                    const float r0 = y0 * cs.x - y1 * cs.y, r1 = y0 * cs.y + y1 * cs.x;
                    if (a.epilogue == GemmEpilogue::RopeStore) {
                        a.out[o] = r0;
                        a.out[o + 1] = r1;
                    } else {
                        std::uint16_t* dst = a.cache + std::uint64_t(pos) * a.cache_stride + n;
                        dst[0] = gpu::f32_to_half_bits(r0);
                        dst[1] = gpu::f32_to_half_bits(r1);
                    }
                    break;
                }
                case GemmEpilogue::ToCache: {
                    std::uint16_t* dst = a.cache + std::uint64_t(pos) * a.cache_stride + n;
                    dst[0] = gpu::f32_to_half_bits(y0);
                    if (both) dst[1] = gpu::f32_to_half_bits(y1);
                    break;
                }
                default: break;
            }
        }
    }
};

/// Y = X W^T for a.m tokens. X must be packed for (Arch, T) (pack_activations_launch).
template <class Arch, DType T>
void gemm_launch(const gpu::Stream& stream, const GemmArgs& a) {
    using P = GemmPolicy<Arch, T>;
    if (a.m == 0) return;
    gpu::LaunchConfig cfg;
    cfg.grid = dim3((a.m + P::bm - 1) / P::bm, P::col_blocks(a.w.layout.rows, a.epilogue == GemmEpilogue::SiluPair));
    cfg.block = dim3(P::threads);
    cfg.shared_bytes = P::smem_bytes;
    gpu::launch<GemmKernel<Arch, T>>("prefill GEMM", stream, cfg, a);
}
#endif  // GRETA_GPU_COMPILER

}  // namespace greta::kernels
