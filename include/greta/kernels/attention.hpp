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
    static constexpr int waves = 8;
    static constexpr int threads = waves * wave;
    static constexpr int key_elems = HD < 32 ? HD : 32;  ///< halves of one key a lane reads
    static constexpr int key_lanes = HD / key_elems;     ///< lanes per key
    static constexpr int keys_per_round = threads / key_lanes;
    static constexpr int val_elems = HD < 8 ? HD : 8;    ///< halves of one value a lane reads
    static constexpr int val_groups = HD / val_elems;    ///< lanes across one value row
    static constexpr int pos_groups = threads / val_groups;
    /// Loaded before the wait: 128 positions of keys and values on 32-lane waves (the backend's
    /// chunk at contexts up to 32 x 128).
    static constexpr int prefetch_key_rounds = (128 + keys_per_round - 1) / keys_per_round;
    static constexpr int prefetch_value_rows = (128 + pos_groups - 1) / pos_groups;
    static_assert(val_groups <= wave && key_lanes <= wave);
    static constexpr std::uint32_t shared_bytes(std::uint32_t max_chunk) {
        return std::uint32_t(max_chunk + 2 * waves + waves * HD) * 4u;
    }
};

#if GRETA_GPU_COMPILER
namespace detail {
/// N consecutive halves (N = 4, 8, 16 or 32) held as loaded: half the registers of floats, so
/// that the keys and values prefetched before the wait fit a small register budget.
template <int N>
struct PackedHalves {
    std::uint32_t w[N / 2];
    GRETA_DEVICE GRETA_ALWAYS_INLINE float operator[](int e) const {
        return gpu::half_bits_to_f32(std::uint16_t(w[e / 2] >> (16 * (e & 1))));
    }
};
template <int N>
GRETA_DEVICE GRETA_ALWAYS_INLINE PackedHalves<N> load_halves(const std::uint16_t* p) {
    PackedHalves<N> out;
    if constexpr (N >= 8) {
#pragma unroll
        for (int i = 0; i < N / 8; ++i) {
            const uint4 v = *reinterpret_cast<const uint4*>(p + 8 * i);
            out.w[4 * i] = v.x, out.w[4 * i + 1] = v.y, out.w[4 * i + 2] = v.z, out.w[4 * i + 3] = v.w;
        }
    } else {
        static_assert(N == 4);
        const uint2 v = *reinterpret_cast<const uint2*>(p);
        out.w[0] = v.x, out.w[1] = v.y;
    }
    return out;
}
}  // namespace detail

template <class Arch, int HD>
struct AttentionKernel {
    using P = AttentionPolicy<Arch, HD>;
    static constexpr int max_block_threads = P::threads;

    GRETA_DEVICE void operator()(AttentionArgs a) const {
        constexpr int W = P::wave, KE = P::key_elems, VE = P::val_elems;
        extern __shared__ uint4 smem_u4[];
        float* sc = reinterpret_cast<float*>(smem_u4);  // [max_chunk] raw scores
        float* stats = sc + a.max_chunk;                 // [waves][2] per-wave (max, sum of exp)
        float* opart = stats + 2 * P::waves;             // [waves][HD] per-wave output sums
        __shared__ int last;

        const int tid = int(threadIdx.x), lane = tid % W, wave = tid / W;
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

        // Every cached key and value but the current position's is final: a chunk's first
        // prefetch_key_rounds rounds of keys and prefetch_value_rows value rows per thread (all
        // of a 128-position chunk) are loaded before waiting for the producer, kept packed.
        const int kl = tid % P::key_lanes;
        const int dg = tid % P::val_groups, pg = tid / P::val_groups;
        using Key = detail::PackedHalves<KE>;
        using Value = detail::PackedHalves<VE>;
        Key kpre[P::prefetch_key_rounds] = {};
        Value vpre[P::prefetch_value_rows] = {};
        auto key_index = [&](int round) { return std::uint32_t(round * P::keys_per_round + tid / P::key_lanes); };
        auto value_index = [&](int row) { return std::uint32_t(pg + row * P::pos_groups); };
        auto key_at = [&](std::uint32_t i) {
            return detail::load_halves<KE>(a.k_cache + std::uint64_t(t0 + i) * a.kv_stride + kvh * HD + kl * KE);
        };
        auto value_at = [&](std::uint32_t i) {
            return detail::load_halves<VE>(a.v_cache + std::uint64_t(t0 + i) * a.kv_stride + kvh * HD + dg * VE);
        };
#pragma unroll
        for (int r = 0; r < P::prefetch_key_rounds; ++r)
            if (key_index(r) < len && t0 + key_index(r) != cur) kpre[r] = key_at(key_index(r));
#pragma unroll
        for (int r = 0; r < P::prefetch_value_rows; ++r)
            if (value_index(r) < len && t0 + value_index(r) != cur) vpre[r] = value_at(value_index(r));

        // The O projection is let in only once the Q/K/V launch is done: earlier, its weight
        // loads compete with that launch's last blocks, which are on the critical path (step
        // 2019 vs 2028 us in the H100 trace, tg128 +0.1-0.3%: docs/BENCHMARKS.md, thirteenth session).
        gpu::wait_for_producers();
        gpu::allow_dependents();
        a.trace.mark(gpu::KernelTrace::Waited);

        // This lane's slice of q straight into registers (q is 16-byte aligned: the backend's
        // workspace offsets are multiples of 256), and the current position's key and value.
        float qv[KE];
#pragma unroll
        for (int e = 0; e < KE; e += 4) {
            const float4 q4 = *reinterpret_cast<const float4*>(a.q + h * HD + kl * KE + e);
            qv[e] = q4.x * a.scale, qv[e + 1] = q4.y * a.scale, qv[e + 2] = q4.z * a.scale, qv[e + 3] = q4.w * a.scale;
        }
#pragma unroll
        for (int r = 0; r < P::prefetch_key_rounds; ++r)
            if (key_index(r) < len && t0 + key_index(r) == cur) kpre[r] = key_at(key_index(r));
#pragma unroll
        for (int r = 0; r < P::prefetch_value_rows; ++r)
            if (value_index(r) < len && t0 + value_index(r) == cur) vpre[r] = value_at(value_index(r));

        // Scores: key_lanes lanes per key, KE halves each, four independent partial sums so
        // the multiply-adds do not wait on each other. Lane kl == 0 of a key keeps its score.
        float local_max = -INFINITY;
        auto score = [&](std::uint32_t i, const Key& k) {
            float d4[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
            for (int e = 0; e < KE; ++e) d4[e % 4] = fmaf(qv[e], k[e], d4[e % 4]);
            const float d = gpu::group_sum<P::key_lanes>((d4[0] + d4[1]) + (d4[2] + d4[3]));
            if (i < len && kl == 0) {
                sc[i] = d;
                local_max = fmaxf(local_max, d);
            }
        };
#pragma unroll
        for (int r = 0; r < P::prefetch_key_rounds; ++r) score(key_index(r), kpre[r]);
        // Longer chunks (contexts past 32 splits of 128): the rest, one round at a time.
        for (std::uint32_t i = key_index(P::prefetch_key_rounds); i - key_index(0) < len; i += P::keys_per_round)
            score(i, i < len ? key_at(i) : Key{});

        // Softmax statistics per wave (max, sum of exp over the scores its lanes own), then one
        // barrier: every thread combines the waves' pairs itself.
        const float wave_m = gpu::wave_max<Arch>(local_max);
        float own = 0.0f;
        if (kl == 0)
            for (std::uint32_t i = key_index(0); i < len; i += P::keys_per_round) own += expf(sc[i] - wave_m);
        const float wave_l = gpu::wave_sum<Arch>(own);
        if (lane == 0) stats[2 * wave] = wave_m, stats[2 * wave + 1] = wave_l;
        __syncthreads();  // stats and sc[] visible to the block
        float m = -INFINITY;
#pragma unroll
        for (int w = 0; w < P::waves; ++w) m = fmaxf(m, stats[2 * w]);
        float l = 0.0f;
#pragma unroll
        for (int w = 0; w < P::waves; ++w) l += stats[2 * w + 1] * expf(stats[2 * w] - m);  // keyless waves: 0 * 0

        // Output: val_groups lanes across a value row, pos_groups rows at a time; each thread
        // takes the softmax weights of its own rows.
        float o[VE];
#pragma unroll
        for (int e = 0; e < VE; ++e) o[e] = 0.0f;
#pragma unroll
        for (int r = 0; r < P::prefetch_value_rows; ++r) {
            const std::uint32_t i = value_index(r);
            if (i < len) {
                const float p = expf(sc[i] - m);
#pragma unroll
                for (int e = 0; e < VE; ++e) o[e] = fmaf(p, vpre[r][e], o[e]);
            }
        }
        for (std::uint32_t i = value_index(P::prefetch_value_rows); i < len; i += P::pos_groups) {
            const Value vv = value_at(i);
            const float p = expf(sc[i] - m);
#pragma unroll
            for (int e = 0; e < VE; ++e) o[e] = fmaf(p, vv[e], o[e]);
        }
        // The wave's position groups added with shuffles, then the waves through shared memory.
#pragma unroll
        for (int off = P::val_groups; off < W; off *= 2)
#pragma unroll
            for (int e = 0; e < VE; ++e) o[e] += gpu::shfl_xor(o[e], off);
        if (lane < P::val_groups)
#pragma unroll
            for (int e = 0; e < VE; ++e) opart[wave * HD + dg * VE + e] = o[e];
        __syncthreads();
        auto head_sum = [&](int d) {
            float s = 0.0f;
#pragma unroll
            for (int w = 0; w < P::waves; ++w) s += opart[w * HD + d];
            return s;
        };

        if (active == 1) {
            for (int d = tid; d < HD; d += P::threads) store_out(h * HD + d, head_sum(d) / l);
            return;
        }

        float* part = a.partial + (std::uint64_t(h) * a.splits + split) * (HD + 2);
        for (int d = tid; d < HD; d += P::threads) part[2 + d] = head_sum(d);
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
