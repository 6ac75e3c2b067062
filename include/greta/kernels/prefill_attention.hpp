#pragma once
/// @file Causal attention of a prompt chunk (prefill), flash-attention style: tiles of K and V
/// stream through shared memory while each query row keeps an online softmax (running max and
/// sum, FP32) and its output in registers; the score matrix never reaches device memory.
///
/// Queries m = 0..M-1 sit at positions pos0 + m and see keys 0..pos0 + m of the FP16 cache, which
/// the K/V projections (gemm.hpp epilogues) have already written for this chunk. Head h reads KV
/// head h / (n_heads / n_kv_heads) (grouped-query attention).
///
/// Two kernels:
///  - sm_90, head_dim a multiple of 16 up to 128: a block is 64 queries of one head (four warps of
///    16 rows); S = Q K^T and O += P V on mma.sync m16n8k16 (P goes from the S accumulators to
///    A fragments in registers), K/V tiles of 64 keys double-buffered with cp.async.
///  - any target and head_dim (gfx942, tiny heads): one block per (query, head), 256 keys per
///    tile scored into shared memory, then folded into the running output.

#include <cmath>
#include <cstdint>
#include <type_traits>

#include <greta/arch/arch.hpp>
#include <greta/kernels/attention.hpp>
#include <greta/kernels/dequant_half.hpp>
#include <greta/kernels/mma_atom.hpp>
#include <greta/kernels/pack_activations.hpp>

#if GRETA_GPU_COMPILER
#include <greta/gpu/intrinsics.hpp>
#include <greta/gpu/launch.hpp>
#endif

namespace greta::kernels {

struct PrefillAttentionArgs {
    const float* q = nullptr;                ///< [m][q_stride], RoPE applied
    std::uint32_t q_stride = 0;              ///< n_heads * head_dim
    const std::uint16_t* k_cache = nullptr;  ///< this layer: [context][kv_stride] fp16
    const std::uint16_t* v_cache = nullptr;
    float* out = nullptr;                    ///< [m][q_stride]
    std::uint32_t m = 0, pos0 = 0;
    std::uint32_t n_heads = 0, n_kv_heads = 0, kv_stride = 0;
    float scale = 1.0f;                      ///< 1/sqrt(head_dim)
    PackedOut packed;                        ///< write fp16 packed for the O projection instead of `out`
};

/// Whether the tensor-core kernel serves this head size on this target.
template <class Arch, int HD>
inline constexpr bool flash_prefill_mma = std::is_same_v<Arch, arch::Sm90> && HD % 16 == 0 && HD <= 128;

#if GRETA_GPU_COMPILER
namespace detail {
GRETA_DEVICE GRETA_ALWAYS_INLINE std::uint32_t pack_half2(float lo, float hi) { return bits_from_h2(__floats2half2_rn(lo, hi)); }
}  // namespace detail

template <int HD>
struct FlashPrefillSm90 {
    static constexpr int warps = 4, rows = 16 * warps, keys = 64;
    static constexpr int stride = HD + 8;  ///< halves per K/V row in shared memory (bank spread)
    static constexpr int max_block_threads = warps * 32;
    static constexpr std::uint32_t tile_bytes = std::uint32_t(keys) * stride * 2;
    static constexpr std::uint32_t smem_bytes = 2 * 2 * tile_bytes;  // K and V, two stages

    GRETA_DEVICE void operator()(PrefillAttentionArgs a) const {
#if defined(GRETA_ARCH_SM90)
        extern __shared__ uint4 smem_u4[];
        auto* smem = reinterpret_cast<std::uint16_t*>(smem_u4);
        const int tid = int(threadIdx.x), lane = tid % 32, warp = tid / 32, g = lane / 4, c = lane % 4;
        const std::uint32_t h = blockIdx.y, kvh = h / (a.n_heads / a.n_kv_heads);
        const std::uint32_t q0 = blockIdx.x * rows;
        const std::uint32_t last = q0 + rows - 1 < a.m ? q0 + rows - 1 : a.m - 1;
        const std::uint32_t n_keys = a.pos0 + last + 1, tiles = (n_keys + keys - 1) / keys;

        // Q as A fragments, pre-scaled so the softmax can use exp2.
        const float qscale = a.scale * 1.4426950408889634f;
        const std::uint32_t r0 = q0 + std::uint32_t(warp * 16 + g), r1 = r0 + 8;
        const float* qr0 = a.q + std::uint64_t(r0 < a.m ? r0 : 0) * a.q_stride + h * HD;
        const float* qr1 = a.q + std::uint64_t(r1 < a.m ? r1 : 0) * a.q_stride + h * HD;
        std::uint32_t qf[HD / 16][4];
#pragma unroll
        for (int kk = 0; kk < HD / 16; ++kk) {
            const int d = 16 * kk + 2 * c;
            qf[kk][0] = detail::pack_half2(qr0[d] * qscale, qr0[d + 1] * qscale);
            qf[kk][1] = detail::pack_half2(qr1[d] * qscale, qr1[d + 1] * qscale);
            qf[kk][2] = detail::pack_half2(qr0[d + 8] * qscale, qr0[d + 9] * qscale);
            qf[kk][3] = detail::pack_half2(qr1[d + 8] * qscale, qr1[d + 9] * qscale);
        }
        const std::uint32_t qpos0 = a.pos0 + r0, qpos1 = a.pos0 + r1;

        auto k_tile = [&](int s) { return smem + s * 2 * (tile_bytes / 2); };
        auto v_tile = [&](int s) { return smem + s * 2 * (tile_bytes / 2) + tile_bytes / 2; };
        auto issue = [&](int s, std::uint32_t kt) {
            constexpr int pieces = HD / 8;  // 16-byte cells per row
            for (int i = tid; i < keys * pieces; i += max_block_threads) {
                const int r = i / pieces, p = i % pieces;
                const std::uint32_t key = kt * keys + std::uint32_t(r);
                const bool zero = key >= n_keys;  // never read: masked, but V must not hold NaN bits
                const std::uint64_t off = std::uint64_t(zero ? 0 : key) * a.kv_stride + kvh * HD + p * 8;
                gpu::stage_copy16(k_tile(s) + r * stride + p * 8, a.k_cache + off, zero);
                gpu::stage_copy16(v_tile(s) + r * stride + p * 8, a.v_cache + off, zero);
            }
        };

        float o[HD / 8][4];
#pragma unroll
        for (int j = 0; j < HD / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
        float run_max[2] = {-INFINITY, -INFINITY}, run_sum[2] = {0.0f, 0.0f};

        issue(0, 0);
        gpu::stage_commit();
        for (std::uint32_t kt = 0; kt < tiles; ++kt) {
            const int s = int(kt % 2);
            if (kt + 1 < tiles) issue(1 - s, kt + 1);
            gpu::stage_commit();
            gpu::stage_wait<1>();
            __syncthreads();
            const std::uint16_t* ks = k_tile(s);
            const std::uint16_t* vs = v_tile(s);

            float sc[keys / 8][4];
#pragma unroll
            for (int j = 0; j < keys / 8; ++j) {
                sc[j][0] = sc[j][1] = sc[j][2] = sc[j][3] = 0.0f;
#pragma unroll
                for (int kk = 0; kk < HD / 16; ++kk) {
                    const std::uint16_t* kr = ks + (8 * j + g) * stride + 16 * kk + 2 * c;
                    const std::uint32_t b0 = *reinterpret_cast<const std::uint32_t*>(kr);
                    const std::uint32_t b1 = *reinterpret_cast<const std::uint32_t*>(kr + 8);
                    MmaAtom<arch::Sm90>::mma(sc[j], qf[kk], b0, b1);
                }
            }
            // Causal mask and the tile's row maxima (rows g and g + 8 of this warp).
            float tmax[2] = {-INFINITY, -INFINITY};
#pragma unroll
            for (int j = 0; j < keys / 8; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const std::uint32_t key = kt * keys + std::uint32_t(8 * j + 2 * c + (e & 1));
                    const std::uint32_t qp = e < 2 ? qpos0 : qpos1;
                    if (key > qp) sc[j][e] = -INFINITY;
                    tmax[e / 2] = fmaxf(tmax[e / 2], sc[j][e]);
                }
            float corr[2];
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                tmax[r] = fmaxf(tmax[r], gpu::shfl_xor(tmax[r], 1));
                tmax[r] = fmaxf(tmax[r], gpu::shfl_xor(tmax[r], 2));
                const float mnew = fmaxf(run_max[r], tmax[r]);
                // A row whose keys are all masked so far keeps max -inf: scale by 1, add zeros.
                corr[r] = mnew == -INFINITY ? 1.0f : exp2f(run_max[r] - mnew);
                run_max[r] = mnew;
                run_sum[r] *= corr[r];
            }
#pragma unroll
            for (int j = 0; j < keys / 8; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const float mx = run_max[e / 2];
                    sc[j][e] = mx == -INFINITY ? 0.0f : exp2f(sc[j][e] - mx);
                    run_sum[e / 2] += sc[j][e];
                }
#pragma unroll
            for (int j = 0; j < HD / 8; ++j) {
                o[j][0] *= corr[0], o[j][1] *= corr[0];
                o[j][2] *= corr[1], o[j][3] *= corr[1];
            }
            // O += P V over the tile's 64 keys, 16 at a time.
#pragma unroll
            for (int kk = 0; kk < keys / 16; ++kk) {
                const std::uint32_t pa[4] = {detail::pack_half2(sc[2 * kk][0], sc[2 * kk][1]),
                                             detail::pack_half2(sc[2 * kk][2], sc[2 * kk][3]),
                                             detail::pack_half2(sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                                             detail::pack_half2(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
                for (int dj = 0; dj < HD / 8; dj += 2) {
                    const int mi = lane / 8, rr = lane % 8;
                    const std::uint16_t* vp = vs + (16 * kk + (mi % 2) * 8 + rr) * stride + 8 * dj + (mi / 2) * 8;
                    const unsigned sa = unsigned(__cvta_generic_to_shared(vp));
                    std::uint32_t b[4];
                    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                                 : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
                                 : "r"(sa));
#pragma unroll
                    for (int half = 0; half < 2; ++half) MmaAtom<arch::Sm90>::mma(o[dj + half], pa, b[2 * half], b[2 * half + 1]);
                }
            }
            __syncthreads();  // the stage is refilled next
        }
        gpu::stage_wait<0>();

#pragma unroll
        for (int r = 0; r < 2; ++r) {
            run_sum[r] += gpu::shfl_xor(run_sum[r], 1);
            run_sum[r] += gpu::shfl_xor(run_sum[r], 2);
        }
        const float inv0 = 1.0f / run_sum[0], inv1 = 1.0f / run_sum[1];
#pragma unroll
        for (int j = 0; j < HD / 8; ++j) {
            const int d = 8 * j + 2 * c;
            if (a.packed.out) {
                const std::uint32_t k = h * HD + std::uint32_t(d);
                const std::uint32_t p0 = a.packed.template position<arch::Sm90>(k);
                const std::uint32_t p1 = a.packed.template position<arch::Sm90>(k + 1);
                if (r0 < a.m) {
                    std::uint16_t* row = a.packed.out + std::uint64_t(r0) * a.packed.stride;
                    row[p0] = gpu::f32_to_half_bits(o[j][0] * inv0);
                    row[p1] = gpu::f32_to_half_bits(o[j][1] * inv0);
                }
                if (r1 < a.m) {
                    std::uint16_t* row = a.packed.out + std::uint64_t(r1) * a.packed.stride;
                    row[p0] = gpu::f32_to_half_bits(o[j][2] * inv1);
                    row[p1] = gpu::f32_to_half_bits(o[j][3] * inv1);
                }
                continue;
            }
            if (r0 < a.m) {
                float* dst = a.out + std::uint64_t(r0) * a.q_stride + h * HD + d;
                *reinterpret_cast<float2*>(dst) = make_float2(o[j][0] * inv0, o[j][1] * inv0);
            }
            if (r1 < a.m) {
                float* dst = a.out + std::uint64_t(r1) * a.q_stride + h * HD + d;
                *reinterpret_cast<float2*>(dst) = make_float2(o[j][2] * inv1, o[j][3] * inv1);
            }
        }
#else
        (void)a;
        GRETA_UNREACHABLE_ARCH("FlashPrefillSm90");
#endif
    }
};

/// Any target, any head size <= 256: one block per (query, head).
template <class Arch, int HD>
struct PrefillAttentionGeneric {
    static constexpr int threads = 256, chunk = threads;
    static constexpr int max_block_threads = threads;
    static_assert(HD <= threads);

    GRETA_DEVICE void operator()(PrefillAttentionArgs a) const {
        __shared__ float qs[HD];
        __shared__ float probs[chunk];
        __shared__ float scratch[threads / arch::arch_traits<Arch>::wave_size + 1];
        const int tid = int(threadIdx.x);
        const std::uint32_t m = blockIdx.x, h = blockIdx.y, kvh = h / (a.n_heads / a.n_kv_heads);
        const std::uint32_t n = a.pos0 + m + 1;
        for (int d = tid; d < HD; d += threads) qs[d] = a.q[std::uint64_t(m) * a.q_stride + h * HD + d] * a.scale;
        __syncthreads();
        float run_max = -INFINITY, run_sum = 0.0f, acc = 0.0f;
        for (std::uint32_t start = 0; start < n; start += chunk) {
            const std::uint32_t key = start + std::uint32_t(tid);
            float s = -INFINITY;
            if (key < n) {
                const std::uint16_t* kr = a.k_cache + std::uint64_t(key) * a.kv_stride + kvh * HD;
                s = 0.0f;
#pragma unroll 8
                for (int d = 0; d < HD; ++d) s = fmaf(qs[d], gpu::half_bits_to_f32(kr[d]), s);
            }
            const float mnew = fmaxf(run_max, gpu::block_max<Arch>(s, scratch));
            const float corr = expf(run_max - mnew);  // run_max = -inf at first: 0, nothing to scale
            const float p = key < n ? expf(s - mnew) : 0.0f;
            probs[tid] = p;
            run_sum = run_sum * corr + gpu::block_sum<Arch>(p, scratch);  // its barrier publishes probs
            if (tid < HD) {
                const std::uint32_t count = n - start < std::uint32_t(chunk) ? n - start : std::uint32_t(chunk);
                float v = acc * corr;
                for (std::uint32_t i = 0; i < count; ++i)
                    v = fmaf(probs[i], gpu::half_bits_to_f32(a.v_cache[std::uint64_t(start + i) * a.kv_stride + kvh * HD + tid]), v);
                acc = v;
            }
            run_max = mnew;
            __syncthreads();  // probs is overwritten next
        }
        if (tid < HD) {
            const std::uint32_t k = h * HD + std::uint32_t(tid);
            if (a.packed.out)
                a.packed.out[std::uint64_t(m) * a.packed.stride + a.packed.template position<Arch>(k)] =
                    gpu::f32_to_half_bits(acc / run_sum);
            else
                a.out[std::uint64_t(m) * a.q_stride + k] = acc / run_sum;
        }
    }
};

template <class Arch, int HD>
void prefill_attention_launch(const gpu::Stream& stream, const PrefillAttentionArgs& a) {
    if (a.m == 0) return;
    gpu::LaunchConfig cfg;
    if constexpr (flash_prefill_mma<Arch, HD>) {
        using K = FlashPrefillSm90<HD>;
        cfg.grid = dim3((a.m + K::rows - 1) / K::rows, a.n_heads);
        cfg.block = dim3(K::max_block_threads);
        cfg.shared_bytes = K::smem_bytes;
        gpu::launch<K>("prefill attention", stream, cfg, a);
    } else {
        using K = PrefillAttentionGeneric<Arch, HD>;
        cfg.grid = dim3(a.m, a.n_heads);
        cfg.block = dim3(K::threads);
        gpu::launch<K>("prefill attention", stream, cfg, a);
    }
}
#endif  // GRETA_GPU_COMPILER

}  // namespace greta::kernels
