#pragma once
/// @file Decode attention of one query position over the FP16 KV cache, split along the
/// sequence (flash-decoding style) and aware of grouped-query attention.
///
/// Grid (n_heads, splits). Block (h, s) takes positions [s*chunk, (s+1)*chunk) of the n = pos+1
/// cached ones, where chunk = max(min_chunk, ceil(n / splits)) is decided on the device, so
/// one captured graph serves every position: short contexts use few splits, long ones all.
/// A block writes (max, sum, unnormalized output) for its split; the last block of a head
/// (atomic ticket) merges the splits and writes the head's output. Scores, softmax and
/// accumulation are FP32; head h reads KV head h / (n_heads / n_kv_heads).

#include <cmath>
#include <cstdint>

#include <greta/arch/arch.hpp>
#include <greta/gpu/intrinsics.hpp>
#include <greta/gpu/launch.hpp>
#include <greta/kernels/x_image.hpp>

namespace greta::kernels {

struct AttentionArgs {
    const float* q = nullptr;               ///< [n_heads * head_dim]
    const std::uint16_t* k_cache = nullptr;  ///< this layer: [context][kv_stride] fp16
    const std::uint16_t* v_cache = nullptr;
    float* out = nullptr;                    ///< [n_heads * head_dim]
    std::uint16_t* out_image = nullptr;      ///< optional: out as the O projection's image (x_image.hpp)
    float* partial = nullptr;                ///< [n_heads][splits][head_dim + 2]
    std::uint32_t* counters = nullptr;       ///< [n_heads], zero between launches
    const std::int32_t* pos = nullptr;       ///< device position of the query
    std::uint32_t n_heads = 0, n_kv_heads = 0, kv_stride = 0;
    std::uint32_t splits = 1;                ///< gridDim.y
    std::uint32_t min_chunk = 32;
    std::uint32_t max_chunk = 32;            ///< sizes the score buffer
    float scale = 1.0f;                      ///< 1/sqrt(head_dim)
    gpu::KernelTrace trace;                  ///< optional timeline of this launch
};

/// Geometry of the attention kernel for head size HD.
template <class Arch, int HD>
struct AttentionPolicy {
    static_assert(HD >= 4 && HD <= 256 && (HD & (HD - 1)) == 0, "head_dim must be a power of two in [4, 256]");
    static constexpr int wave = arch::arch_traits<Arch>::wave_size;
    static constexpr int threads = 8 * wave;
    static constexpr int key_elems = HD < 32 ? HD : 32;  ///< halves of one key a lane reads
    static constexpr int key_lanes = HD / key_elems;     ///< lanes per key
    static constexpr int val_elems = HD < 8 ? HD : 8;    ///< halves of one value a lane reads
    static constexpr int val_groups = HD / val_elems;    ///< lanes across one value row
    static constexpr int pos_groups = threads / val_groups;
    static_assert(val_groups <= threads && key_lanes <= wave);
    static constexpr std::uint32_t shared_bytes(std::uint32_t max_chunk) {
        return std::uint32_t(HD + max_chunk + 2 * threads + pos_groups * HD) * 4u + 64u;
    }
};

#if GRETA_GPU_COMPILER
namespace detail {
/// Loads N consecutive halves (N = 4, 8, 16 or 32) and widens them to float.
template <int N>
GRETA_DEVICE GRETA_ALWAYS_INLINE void load_halves(const std::uint16_t* p, float (&out)[N]) {
    if constexpr (N >= 8) {
#pragma unroll
        for (int i = 0; i < N / 8; ++i) {
            const uint4 v = *reinterpret_cast<const uint4*>(p + 8 * i);
            const std::uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                out[8 * i + 2 * e] = gpu::half_bits_to_f32(std::uint16_t(w[e]));
                out[8 * i + 2 * e + 1] = gpu::half_bits_to_f32(std::uint16_t(w[e] >> 16));
            }
        }
    } else {
        static_assert(N == 4);
        const uint2 v = *reinterpret_cast<const uint2*>(p);
        out[0] = gpu::half_bits_to_f32(std::uint16_t(v.x));
        out[1] = gpu::half_bits_to_f32(std::uint16_t(v.x >> 16));
        out[2] = gpu::half_bits_to_f32(std::uint16_t(v.y));
        out[3] = gpu::half_bits_to_f32(std::uint16_t(v.y >> 16));
    }
}
}  // namespace detail

template <class Arch, int HD>
struct AttentionKernel {
    using P = AttentionPolicy<Arch, HD>;
    static constexpr int max_block_threads = P::threads;

    GRETA_DEVICE void operator()(AttentionArgs a) const {
        extern __shared__ uint4 smem_u4[];
        float* qs = reinterpret_cast<float*>(smem_u4);  // [HD]
        float* sc = qs + HD;                             // [max_chunk]
        float* scratch = sc + a.max_chunk;               // [2 * threads]
        float* opart = scratch + 2 * P::threads;         // [pos_groups][HD]
        __shared__ int last;

        const int tid = int(threadIdx.x);
        const std::uint32_t h = blockIdx.x, split = blockIdx.y;
        const std::uint32_t kvh = h / (a.n_heads / a.n_kv_heads);

        a.trace.mark(gpu::KernelTrace::Start);
        const gpu::TraceEndGuard trace_end{a.trace};
        auto store_out = [&](std::uint32_t i, float v) {
            gpu::store_activation(a.out + i, v);
            if (a.out_image) store_image(a.out_image, i, v);
        };

        // The position was copied in before the step's first kernel, so it can be read before
        // waiting for the producer (the Q/K/V GEMV).
        const std::uint32_t n = std::uint32_t(*a.pos) + 1, cur = n - 1;
        std::uint32_t chunk = (n + a.splits - 1) / a.splits;
        if (chunk < a.min_chunk) chunk = a.min_chunk;
        const std::uint32_t t0 = split * chunk;
        // Splits past the sequence have nothing to do (short contexts use few splits); the
        // merge below counts only the active ones.
        const std::uint32_t active = (n + chunk - 1) / chunk;
        if (split >= active) return;
        const std::uint32_t t1 = t0 + chunk < n ? t0 + chunk : n;
        const std::uint32_t len = t1 - t0;
        (void)qs;

        // Every cached key and value but the current position's is final: load this thread's
        // first two rounds of keys and first value rows before waiting for the producer.
        const int kl = tid % P::key_lanes;
        constexpr int keys_per_round = P::threads / P::key_lanes;
        const int dg = tid % P::val_groups, pg = tid / P::val_groups;
        constexpr int VPF = 4;
        float kpre[2][P::key_elems];
        float vpre[VPF][P::val_elems];
        auto key_at = [&](std::uint32_t i, float (&kv)[P::key_elems]) {
            detail::load_halves<P::key_elems>(a.k_cache + std::uint64_t(t0 + i) * a.kv_stride + kvh * HD + kl * P::key_elems, kv);
        };
        auto value_at = [&](std::uint32_t i, float (&vv)[P::val_elems]) {
            detail::load_halves<P::val_elems>(a.v_cache + std::uint64_t(t0 + i) * a.kv_stride + kvh * HD + dg * P::val_elems, vv);
        };
#pragma unroll
        for (int h2 = 0; h2 < 2; ++h2) {
            const std::uint32_t i = std::uint32_t(h2 * keys_per_round + tid / P::key_lanes);
            if (i < len && t0 + i != cur) key_at(i, kpre[h2]);
        }
#pragma unroll
        for (int r = 0; r < VPF; ++r) {
            const std::uint32_t i = std::uint32_t(pg + r * P::pos_groups);
            if (i < len && t0 + i != cur) value_at(i, vpre[r]);
        }

        gpu::allow_dependents();
        gpu::wait_for_producers();
        a.trace.mark(gpu::KernelTrace::Waited);

#pragma unroll
        for (int h2 = 0; h2 < 2; ++h2) {
            const std::uint32_t i = std::uint32_t(h2 * keys_per_round + tid / P::key_lanes);
            if (i < len && t0 + i == cur) key_at(i, kpre[h2]);
        }
#pragma unroll
        for (int r = 0; r < VPF; ++r) {
            const std::uint32_t i = std::uint32_t(pg + r * P::pos_groups);
            if (i < len && t0 + i == cur) value_at(i, vpre[r]);
        }

        // Scores: key_lanes lanes per key, key_elems halves each; every thread runs the same
        // number of rounds so the shuffles see whole waves.
        float qreg[P::key_elems];
#pragma unroll
        for (int e = 0; e < P::key_elems; ++e) qreg[e] = a.q[h * HD + kl * P::key_elems + e] * a.scale;
        float local_max = -INFINITY;
        // Two rounds of keys per iteration, both loaded before either is reduced (the first two
        // rounds were loaded above).
        for (std::uint32_t r0 = 0; r0 < len; r0 += 2 * keys_per_round) {
            float dot[2];
#pragma unroll
            for (int h2 = 0; h2 < 2; ++h2) {
                const std::uint32_t i = r0 + std::uint32_t(h2 * keys_per_round + tid / P::key_lanes);
                dot[h2] = 0.0f;
                if (i < len) {
                    float kv[P::key_elems];
                    if (r0 == 0) {
#pragma unroll
                        for (int e = 0; e < P::key_elems; ++e) kv[e] = kpre[h2][e];
                    } else {
                        key_at(i, kv);
                    }
#pragma unroll
                    for (int e = 0; e < P::key_elems; ++e) dot[h2] = fmaf(qreg[e], kv[e], dot[h2]);
                }
            }
#pragma unroll
            for (int h2 = 0; h2 < 2; ++h2) {
                const std::uint32_t i = r0 + std::uint32_t(h2 * keys_per_round + tid / P::key_lanes);
                const float d = gpu::group_sum<P::key_lanes>(dot[h2]);
                if (i < len && kl == 0) {
                    sc[i] = d;
                    local_max = fmaxf(local_max, d);
                }
            }
        }
        const float m = gpu::block_max<Arch>(local_max, scratch);
        float local_sum = 0.0f;
        for (std::uint32_t i = std::uint32_t(tid); i < len; i += P::threads) {
            const float p = expf(sc[i] - m);
            sc[i] = p;
            local_sum += p;
        }
        const float l = gpu::block_sum<Arch>(local_sum, scratch);  // also orders sc[] writes

        // Output: val_groups lanes across a value row, pos_groups rows at a time.
        float o[P::val_elems];
#pragma unroll
        for (int e = 0; e < P::val_elems; ++e) o[e] = 0.0f;
#pragma unroll
        for (int r = 0; r < VPF; ++r) {
            const std::uint32_t i = std::uint32_t(pg + r * P::pos_groups);
            if (i < len) {
                const float p = sc[i];
#pragma unroll
                for (int e = 0; e < P::val_elems; ++e) o[e] = fmaf(p, vpre[r][e], o[e]);
            }
        }
        for (std::uint32_t i = std::uint32_t(pg + VPF * P::pos_groups); i < len; i += P::pos_groups) {
            float vv[P::val_elems];
            detail::load_halves<P::val_elems>(
                a.v_cache + std::uint64_t(t0 + i) * a.kv_stride + kvh * HD + dg * P::val_elems, vv);
            const float p = sc[i];
#pragma unroll
            for (int e = 0; e < P::val_elems; ++e) o[e] = fmaf(p, vv[e], o[e]);
        }
#pragma unroll
        for (int e = 0; e < P::val_elems; ++e) opart[pg * HD + dg * P::val_elems + e] = o[e];
        __syncthreads();

        if (active == 1) {
            for (int d = tid; d < HD; d += P::threads) {
                float s = 0.0f;
                for (int k = 0; k < P::pos_groups; ++k) s += opart[k * HD + d];
                store_out(h * HD + d, s / l);
            }
            return;
        }

        float* part = a.partial + (std::uint64_t(h) * a.splits + split) * (HD + 2);
        for (int d = tid; d < HD; d += P::threads) {
            float s = 0.0f;
            for (int k = 0; k < P::pos_groups; ++k) s += opart[k * HD + d];
            part[2 + d] = s;
        }
        if (tid == 0) {
            part[0] = m;
            part[1] = l;
        }
        __threadfence();
        __syncthreads();
        if (tid == 0) last = atomicAdd(a.counters + h, 1u) == active - 1;
        __syncthreads();
        if (!last) return;
        __threadfence();

        // The merge reads other blocks' partials: volatile (not through this SM's L1, which may
        // hold the same addresses from an earlier step).
        const volatile float* parts = a.partial + std::uint64_t(h) * a.splits * (HD + 2);
        float M = -INFINITY;
        for (std::uint32_t s = 0; s < active; ++s) M = fmaxf(M, parts[s * (HD + 2)]);
        float L = 0.0f;
        for (std::uint32_t s = 0; s < active; ++s) L += parts[s * (HD + 2) + 1] * expf(parts[s * (HD + 2)] - M);
        for (int d = tid; d < HD; d += P::threads) {
            float O = 0.0f;
            for (std::uint32_t s = 0; s < active; ++s) O += parts[s * (HD + 2) + 2 + d] * expf(parts[s * (HD + 2)] - M);
            store_out(h * HD + d, O / L);
        }
        if (tid == 0) a.counters[h] = 0;
    }
};

/// Head sizes with a compiled attention kernel.
constexpr bool attention_head_dim_supported(std::uint32_t hd) {
    return hd == 4 || hd == 8 || hd == 16 || hd == 32 || hd == 64 || hd == 128 || hd == 256;
}

/// Calls f.template operator()<HD>() for the compiled head size.
template <class F>
void dispatch_head_dim(std::uint32_t hd, F&& f) {
    switch (hd) {
        case 4: f.template operator()<4>(); return;
        case 8: f.template operator()<8>(); return;
        case 16: f.template operator()<16>(); return;
        case 32: f.template operator()<32>(); return;
        case 64: f.template operator()<64>(); return;
        case 128: f.template operator()<128>(); return;
        case 256: f.template operator()<256>(); return;
        default: throw Error("no attention kernel for head_dim " + std::to_string(hd) + " (powers of two 4..256)");
    }
}

template <class Arch, int HD>
void attention_launch(const gpu::Stream& stream, const AttentionArgs& a, bool overlap_previous = false) {
    using P = AttentionPolicy<Arch, HD>;
    gpu::LaunchConfig cfg;
    cfg.grid = dim3(a.n_heads, a.splits);
    cfg.block = dim3(P::threads);
    cfg.shared_bytes = P::shared_bytes(a.max_chunk);
    cfg.overlap_previous = overlap_previous;
    gpu::launch<AttentionKernel<Arch, HD>>("attention", stream, cfg, a);
}
#endif  // GRETA_GPU_COMPILER

}  // namespace greta::kernels
