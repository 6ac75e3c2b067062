#pragma once
/// @file Decode GEMV y = W x for quantized or float weights, with the RMSNorm of x fused into
/// its prologue and the consumer of y fused into its epilogue (residual add, SwiGLU, RoPE + KV
/// store, logits + greedy argmax).
///
/// Geometry (GemvPolicy): a row group is `block_rows` rows (tiles of wave/2 rows; lane 4g + c
/// handles rows g and g + wave/4 of a tile, lane c of 4 per row); a block's `waves` waves split
/// K, each taking every waves-th super-block. Blocks are persistent: a grid of at most what fits
/// on the device takes equal shares of the row groups. A block:
///   1. issues the 16-byte weight loads of its first super-blocks, into registers or (cp.async,
///      sm_90) shared memory (weights never depend on the previous kernel, so under
///      programmatic launch they overlap its tail);
///   2. waits for the producer; each wave stages the part of x (times the norm weight) that its
///      super-blocks multiply, in shared memory once, in the slot order of formats.hpp, as fp16
///      for the tensor-core path (sm_90) or fp32 otherwise, with the per-sub-block sums of x
///      (Q4_K mins); its part of sum(x^2) is added to the others' at the first reduction. When
///      the producer handed x over as an image (x_image.hpp; sm_90 Q4_K/Q6_K), the staging is a
///      16-byte copy per lane and super-block, and sum(x^2) comes from the producer's parts;
///   3. per row group: accumulates in fp32 (tensor cores on sm_90: mma_sm90.hpp; FMA
///      elsewhere), issues the next group's first loads, adds the lanes and waves of each row
///      in shared memory and applies the epilogue.
/// One launch may cover up to three matrices with the same K (Q, K and V), in one format or,
/// one group per block, in two (Q4_K_M's Q/K in Q4_K with V in Q6_K).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include <greta/arch/arch.hpp>
#include <greta/core/dtype.hpp>
#include <greta/gpu/intrinsics.hpp>
#include <greta/gpu/launch.hpp>
#include <greta/kernels/formats.hpp>
#include <greta/kernels/mma_sm90.hpp>
#include <greta/kernels/x_image.hpp>

namespace greta::kernels {

/// What happens to y[r] once it is computed.
enum class GemvEpilogue : std::uint32_t {
    Store,        ///< out[r] = y
    Add,          ///< out[r] += y (residual stream)
    MulSilu,      ///< out[r] = silu(other[r]) * y (up projection when gate was separate)
    SiluPair,     ///< out[r] = silu(y_gate) * y_up, gate from w, up from w2 (one launch)
    RopeStore,    ///< rotate adjacent pairs by the position, out[r] = y (queries)
    RopeToCache,  ///< rotate, then cache[pos][r] = fp16(y) (keys)
    ToCache,      ///< cache[pos][r] = fp16(y) (values)
    Logits,       ///< out[r] = y, and the greedy token is reduced across blocks
};

/// A matrix resident on the device in the layout of formats.hpp.
struct DeviceMatrix {
    const std::byte* payload = nullptr;
    const std::byte* meta = nullptr;
    const std::byte* aux = nullptr;
    MatrixLayout layout;
};

struct GemvSegment {
    DeviceMatrix w;
    DeviceMatrix w2;  ///< SiluPair: the up projection (w is the gate)
    GemvEpilogue epilogue = GemvEpilogue::Store;
    float* out = nullptr;
    const float* other = nullptr;      ///< MulSilu: gate values
    std::uint16_t* cache = nullptr;    ///< ToCache/RopeToCache: fp16 cache of this layer
    std::uint32_t cache_stride = 0;    ///< cache elements per position
    std::uint32_t blocks = 0;          ///< set by gemv_launch
};

struct GemvArgs {
    GemvSegment seg[3];
    std::uint32_t n_seg = 1;
    std::uint32_t n_seg_first = 3;  ///< segments [0, n_seg_first) use the first format, the rest the second
    /// Two formats: 0 = one row group per block; otherwise blocks [0, first_format_blocks) are
    /// persistent over the first format's groups and the rest over the second's (set by gemv_launch).
    std::uint32_t first_format_blocks = 0;
    const float* x = nullptr;     ///< input, K floats
    const float* norm = nullptr;  ///< RMSNorm weight (K floats) or null for no norm
    /// x as its producer's image (x_image.hpp), already times `norm`, with the norm's partial
    /// sums in x_parts: the Q4_K/Q6_K tensor-core GEMVs copy it instead of staging x.
    const std::uint16_t* x_image = nullptr;
    const float* x_parts = nullptr;
    /// One-segment launches with Store/Add/MulSilu/SiluPair: y handed over as the next GEMV's
    /// image too, fp16(y * y_image_norm) at image_position(row), and (not SiluPair) the sums of
    /// y^2 per 16 rows into y_parts. Launch-wide rather than per segment: kernel parameters, so
    /// the persistent loop holds no registers for them.
    std::uint16_t* y_image = nullptr;
    const float* y_image_norm = nullptr;
    float* y_parts = nullptr;
    float eps = 1e-5f;
    const std::int32_t* pos = nullptr;  ///< device position (RoPE, caches)
    const float2* rope = nullptr;       ///< RoPE table: [position][head_dim/2] (cos, sin)
    std::uint32_t head_dim = 0;
    float* arg_val = nullptr;           ///< Logits: one partial maximum per block
    std::int32_t* arg_idx = nullptr;
    std::uint32_t* counter = nullptr;   ///< Logits: blocks done (reset by the last one)
    std::int32_t* token_out = nullptr;  ///< Logits: the argmax
    /// Logits, for decode steps chained on the device: the last block also makes the argmax
    /// the next step's input, next_io[0] = argmax and next_io[1] += 1 (token, position), and
    /// writes it to token_ring[position % ring_size] (host memory, read once the step is done).
    std::int32_t* next_io = nullptr;
    std::int32_t* token_ring = nullptr;
    std::uint32_t ring_size = 0;
    gpu::KernelTrace trace;             ///< optional timeline of this launch
};

/// Tuning knobs of the GEMV: waves splitting K in a block, row tiles per block, and whether a
/// wave keeps the next super-block's loads in flight while it computes the current one.
template <int Waves, int Tiles, bool Prefetch, int Stages = 0, int Buffers = 2>
struct GemvTune {
    static constexpr int waves = Waves;
    static constexpr int tiles = Tiles;
    static constexpr bool prefetch = Prefetch;
    /// Register path with prefetch: super-blocks per wave in registers. All of a wave's
    /// super-blocks (K / 256 / waves) make every weight load leave before the producer is waited for.
    static constexpr int buffers = Buffers;
    /// > 0: copy weights global -> shared asynchronously (cp.async, sm_90) this many super-blocks
    /// deep per wave, so the bytes in flight no longer cost registers.
    static constexpr int stages = Stages;
};

/// The defaults keep a lane's loaded bytes within ~100 registers: two row tiles only for Q4_K
/// (32 bytes per row per super-block), prefetch except for the FP32-path formats whose rows
/// are wide (the H100 numbers behind them: docs/BENCHMARKS.md).
template <class Arch, DType T>
using GemvDefaultTune = GemvTune<4, (T == DType::Q4_K ? 2 : 1), (T != DType::F32 && T != DType::BF16),
                                 (std::is_same_v<Arch, arch::Sm90> && Format<T>::mma ? 3 : 0)>;

/// Launch geometry and register blocking of the GEMV, derived in one place.
template <class Arch, DType T, class Tune = GemvDefaultTune<Arch, T>>
struct GemvPolicy {
    using F = Format<T>;
    static constexpr int wave = arch::arch_traits<Arch>::wave_size;
    static constexpr bool mma = std::is_same_v<Arch, arch::Sm90> && F::mma;
    static constexpr int waves = Tune::waves;                    ///< waves per block, splitting K
    static constexpr int tiles = Tune::tiles;                    ///< row tiles per block
    static constexpr int stages = std::is_same_v<Arch, arch::Sm90> ? Tune::stages : 0;
    static constexpr int buffers = (Tune::prefetch && stages == 0) ? Tune::buffers : 1;  ///< super-blocks in registers
    /// 16-byte staging chunks per lane per super-block: payload, then meta, then aux slots.
    static constexpr int meta_chunks = F::meta_bytes ? 1 : 0, aux_chunks = F::aux_bytes ? 1 : 0;
    static constexpr int lane_chunks = Tune::tiles * 2 * (F::payload_u4 + meta_chunks + aux_chunks);
    static constexpr int tile_rows = wave / 2;
    static constexpr int block_rows = tiles * tile_rows;
    static constexpr int threads = waves * wave;
    static constexpr std::uint32_t x_bytes = mma ? 2 : 4;
    static_assert(wave % 4 == 0 && (!mma || wave == 32), "tensor-core path is laid out for 32-lane warps");

    struct Smem {
        std::uint32_t xs, gsum, red, res, ssq, scratch, stage, total;
    };
    static constexpr Smem smem(std::uint32_t nsb) {
        Smem s{};
        auto align = [](std::uint32_t v) { return (v + 15u) & ~15u; };
        s.xs = 0;
        s.gsum = align(nsb * kSbValues * x_bytes);
        s.red = align(s.gsum + (F::has_mins ? nsb * 8u * 4u : 0u));
        s.res = align(s.red + std::uint32_t(waves * block_rows) * 4u);
        s.ssq = align(s.res + std::uint32_t(block_rows) * 4u);
        s.scratch = align(s.ssq + std::uint32_t(waves) * 4u);
        // The cp.async stages start at an odd multiple of 16 bytes. On the H100 the decode step
        // is 4% slower when they start at a multiple of 32 (ffn_down and lm_head launches ~15%;
        // docs/BENCHMARKS.md, "stage placement": each of the eight offsets modulo 128 measured).
        s.stage = (align(s.scratch + std::uint32_t(threads) * 8u + 16u) | 16u);
        s.total = s.stage + std::uint32_t(stages * waves * lane_chunks * wave * 16);
        return s;
    }
    /// Blocks for a segment of `rows` output rows.
    static constexpr std::uint32_t blocks_for(std::uint32_t rows, bool pair) {
        const std::uint32_t per = pair ? std::uint32_t(block_rows / 2) : std::uint32_t(block_rows);
        return (rows + per - 1) / per;
    }
};

/// How a two-format launch with `fit` resident blocks divides them: `first_blocks` persistent
/// over the first format's groups, the rest over the second's. Chosen so that the busiest block
/// reads the fewest bytes (a block takes ceil(groups / blocks) whole groups of its format; ties
/// go to the lighter other set). One entry is cached per host thread: every mixed launch of a
/// model has the same shapes, and without graphs the launch is on the per-token path.
struct TwoFormatSplit {
    std::uint32_t first_blocks = 0, grid = 0;
    double busiest_bytes = 0;  ///< bytes of the block that reads the most
};
inline TwoFormatSplit two_format_split(std::uint32_t first_groups, std::uint32_t second_groups, std::uint64_t first_bytes,
                                       std::uint64_t second_bytes, std::uint32_t fit) {
    struct Key {
        std::uint32_t f, s, fit;
        std::uint64_t fb, sb;
        bool operator==(const Key&) const = default;
    };
    thread_local Key cached_key{};
    thread_local TwoFormatSplit cached{};
    const Key key{first_groups, second_groups, fit, first_bytes, second_bytes};
    if (cached.grid != 0 && key == cached_key) return cached;
    const double g1 = double(first_bytes) / first_groups, g2 = double(second_bytes) / second_groups;
    TwoFormatSplit best;
    double best_max = INFINITY, best_min = INFINITY;
    for (std::uint32_t n = 1; n < fit && n <= first_groups; ++n) {
        const std::uint32_t m = std::min(fit - n, second_groups);
        const double b1 = double((first_groups + n - 1) / n) * g1, b2 = double((second_groups + m - 1) / m) * g2;
        const double hi = std::max(b1, b2), lo = std::min(b1, b2);
        if (hi < best_max || (hi == best_max && lo < best_min)) {
            best_max = hi, best_min = lo;
            best = {n, n + m, hi};
        }
    }
    cached_key = key;
    cached = best;
    return best;
}

#if GRETA_GPU_COMPILER
namespace detail {
GRETA_DEVICE GRETA_ALWAYS_INLINE float silu(float g) { return g / (1.0f + expf(-g)); }
}  // namespace detail

/// The work of one block for one segment, in format T.
template <class Arch, DType T, class Tune>
struct GemvBody {
    using P = GemvPolicy<Arch, T, Tune>;
    using F = Format<T>;

    /// The segment and its block index of launch-wide row group `grp`.
    GRETA_DEVICE static GemvSegment locate(const GemvArgs& a, std::uint32_t grp, std::uint32_t& b) {
        b = grp;
        int s = 0;
        if (a.n_seg > 1 && b >= a.seg[0].blocks) {
            b -= a.seg[0].blocks;
            s = 1;
            if (a.n_seg > 2 && b >= a.seg[1].blocks) {
                b -= a.seg[1].blocks;
                s = 2;
            }
        }
        return s == 0 ? a.seg[0] : s == 1 ? a.seg[1] : a.seg[2];  // selects, not an indexed copy
    }

    /// Row groups first, first + step, ... < total (persistent blocks: x is staged once per
    /// block, and the next group's weights are in flight during this group's reduction).
    GRETA_DEVICE static void run(const GemvArgs& a, std::uint32_t first, std::uint32_t step_groups,
                                 std::uint32_t total) {
        constexpr int W = P::wave, TILES = P::tiles, U = P::buffers, PU = F::payload_u4;
        a.trace.mark(gpu::KernelTrace::Start);
        const gpu::TraceEndGuard trace_end{a.trace};
        extern __shared__ uint4 smem_u4[];
        auto* smem = reinterpret_cast<unsigned char*>(smem_u4);

        const int tid = int(threadIdx.x), lane = tid % W, wave = tid / W;
        const int g = lane / 4, c = lane % 4;
        std::uint32_t grp = first, b = 0;
        GemvSegment seg = locate(a, grp, b);
        const MatrixLayout L = seg.w.layout;  // K and the row geometry are the same for every group
        const std::uint32_t nsb = L.nsb;

        // Row pointers of this lane's rows (clamped: rows past the end load row 0's bytes and
        // are dropped in the epilogue).
        const std::byte* prow[TILES][2];
        const std::byte* mrow[TILES][2];
        const std::byte* arow[TILES][2];
        auto set_rows = [&](const GemvSegment& sg, std::uint32_t blk) {
            const bool pr = sg.epilogue == GemvEpilogue::SiluPair;
            const std::uint32_t bs = blk * (pr ? P::block_rows / 2 : P::block_rows);
#pragma unroll
            for (int tile = 0; tile < TILES; ++tile)
#pragma unroll
                for (int rr = 0; rr < 2; ++rr) {
                    // SiluPair: lane row g of a tile is gate row r, row g + tile_rows/2 the same up row.
                    std::uint32_t row;
                    const DeviceMatrix* m = &sg.w;
                    if (pr) {
                        row = bs + std::uint32_t(tile * (P::tile_rows / 2) + g);
                        if (rr == 1) m = &sg.w2;
                    } else {
                        row = bs + std::uint32_t(tile * P::tile_rows + g + rr * (P::tile_rows / 2));
                    }
                    if (row >= sg.w.layout.rows) row = 0;
                    prow[tile][rr] = m->payload + L.payload_offset(row) + c * 16;
                    mrow[tile][rr] = m->meta + L.meta_offset(row);
                    arow[tile][rr] = m->aux + L.aux_offset(row);
                }
        };
        set_rows(seg, b);

        uint4 v[U][TILES][2][PU];
        MetaRegs mr[U][TILES][2];
        auto load = [&](int u, std::uint32_t sb) {
#pragma unroll
            for (int tile = 0; tile < TILES; ++tile)
#pragma unroll
                for (int rr = 0; rr < 2; ++rr) {
                    const std::byte* p = prow[tile][rr] + std::uint64_t(sb) * L.payload_step();
#pragma unroll
                    for (int n = 0; n < PU; ++n) v[u][tile][rr][n] = gpu::load_u4(p + n * 64);
                    F::load_meta(mrow[tile][rr] + std::uint64_t(sb) * L.meta_step(),
                                 arow[tile][rr] + std::uint64_t(sb) * L.aux_step(), c, mr[u][tile][rr]);
                }
        };
        const typename P::Smem lay = P::smem(nsb);

        // Asynchronous staging (sm_90): lane-private 16-byte slots [stage][wave][chunk][lane];
        // a lane reads back only what it copied, so no barrier is needed.
        auto slot = [&](int stage, int chunk) {
            return smem + lay.stage +
                   ((std::uint32_t(stage * P::waves + wave) * P::lane_chunks + std::uint32_t(chunk)) * W + lane) * 16u;
        };
        auto issue = [&](int stage, std::uint32_t sb) {
            int ch = 0;
#pragma unroll
            for (int tile = 0; tile < TILES; ++tile)
#pragma unroll
                for (int rr = 0; rr < 2; ++rr) {
                    const std::byte* p = prow[tile][rr] + std::uint64_t(sb) * L.payload_step();
#pragma unroll
                    for (int n = 0; n < PU; ++n) gpu::cp_async16(slot(stage, ch++), p + n * 64);
                }
            if constexpr (P::meta_chunks > 0) {
#pragma unroll
                for (int tile = 0; tile < TILES; ++tile)
#pragma unroll
                    for (int rr = 0; rr < 2; ++rr) {
                        const std::byte* m = mrow[tile][rr] + std::uint64_t(sb) * L.meta_step() + F::meta_lane_offset(c);
                        if constexpr (F::meta_lane_bytes == 16) gpu::cp_async16(slot(stage, ch++), m);
                        else gpu::cp_async4(slot(stage, ch++), m);
                    }
            }
            if constexpr (P::aux_chunks > 0) {
#pragma unroll
                for (int tile = 0; tile < TILES; ++tile)
#pragma unroll
                    for (int rr = 0; rr < 2; ++rr)
                        gpu::cp_async4(slot(stage, ch++), arow[tile][rr] + std::uint64_t(sb) * L.aux_step());
            }
        };
        auto consume = [&](int stage) {  // staged bytes -> the registers compute() reads
            int ch = 0;
#pragma unroll
            for (int tile = 0; tile < TILES; ++tile)
#pragma unroll
                for (int rr = 0; rr < 2; ++rr)
#pragma unroll
                    for (int n = 0; n < PU; ++n) v[0][tile][rr][n] = *reinterpret_cast<const uint4*>(slot(stage, ch++));
            if constexpr (P::meta_chunks > 0) {
#pragma unroll
                for (int tile = 0; tile < TILES; ++tile)
#pragma unroll
                    for (int rr = 0; rr < 2; ++rr) {
                        if constexpr (F::meta_lane_bytes == 16) {
                            const uint4 m4 = *reinterpret_cast<const uint4*>(slot(stage, ch++));
                            mr[0][tile][rr].w[0] = m4.x, mr[0][tile][rr].w[1] = m4.y;
                            mr[0][tile][rr].w[2] = m4.z, mr[0][tile][rr].w[3] = m4.w;
                        } else {
                            mr[0][tile][rr].w[0] = *reinterpret_cast<const std::uint32_t*>(slot(stage, ch++));
                        }
                    }
            }
            if constexpr (P::aux_chunks > 0) {
#pragma unroll
                for (int tile = 0; tile < TILES; ++tile)
#pragma unroll
                    for (int rr = 0; rr < 2; ++rr)
                        mr[0][tile][rr].aux = *reinterpret_cast<const std::uint32_t*>(slot(stage, ch++)) & 0xFFFFu;
            }
        };

        auto start_group = [&] {
            if constexpr (P::stages > 0) {
                // The first stages - 1 super-blocks of this wave; one commit group each.
#pragma unroll
                for (int i = 0; i < P::stages - 1; ++i) {
                    const std::uint32_t sb = std::uint32_t(wave + i * P::waves);
                    if (sb < nsb) issue(i, sb);
                    gpu::cp_async_commit();
                }
            } else {
                // The first U super-blocks in registers (buffer u holds wave + (u + U i) waves).
#pragma unroll
                for (int u = 0; u < U; ++u) {
                    const std::uint32_t sb = std::uint32_t(wave + u * P::waves);
                    if (sb < nsb) load(u, sb);
                }
            }
        };
        start_group();

        // Everything below reads what the previous kernel wrote.
        gpu::allow_dependents();
        gpu::wait_for_producers();
        a.trace.mark(gpu::KernelTrace::Waited);

        float* gsum = reinterpret_cast<float*>(smem + lay.gsum);
        float* red = reinterpret_cast<float*>(smem + lay.red);
        float* res = reinterpret_cast<float*>(smem + lay.res);
        float* scratch = reinterpret_cast<float*>(smem + lay.scratch);

        // ---- prologue: each wave stages x (times the norm weight) for the super-blocks it
        // multiplies (wave, wave + waves, ...), in the slot order of formats.hpp ----
        // No block-wide barrier before the multiply (+0.3-0.6% tg128 on the H100 over staging
        // all of x block-wide; the staging after the wait as a whole is ~10% of the step:
        // docs/BENCHMARKS.md, tenth session). The norm scale is needed only at the first
        // reduction, so each wave leaves its part of sum(x^2) in ssq[wave] and the rows'
        // threads add them there.
        float* ssq = reinterpret_cast<float*>(smem + lay.ssq);
        float ss = 0.0f;
        const std::uint32_t K = L.k;
        constexpr std::uint32_t kGroupsPerSb = kSbValues / 4;  // float4 groups per super-block
        const std::uint32_t wave_sbs = std::uint32_t(wave) < nsb ? (nsb - 1u - std::uint32_t(wave)) / P::waves + 1u : 0u;
        const std::uint32_t wave_groups = wave_sbs * kGroupsPerSb;
        // The wave's j-th float4 group is group i of x (super-block wave + (j / 64) waves).
        auto group_of = [&](std::uint32_t j) {
            return (std::uint32_t(wave) + (j / kGroupsPerSb) * P::waves) * kGroupsPerSb + j % kGroupsPerSb;
        };
        bool staged = false;
        if constexpr (P::mma && image_chunks_match_slots<F>()) {
            if (a.x_image) {
                // A copy: lane L's 16 bytes of each super-block are image chunk image_chunk(L),
                // loaded for up to IB super-blocks before any is stored. The partial sums of
                // x^2 are loaded first, into registers read only after the copy, so that they
                // share its L2 round trip instead of adding one.
                constexpr int PP = 2;  // partial sums per thread in flight (K <= 4096 on 4 waves)
                const std::uint32_t n_parts = a.norm ? (K + x_parts_rows - 1) / x_parts_rows : 0u;
                float pv[PP];
#pragma unroll
                for (int j = 0; j < PP; ++j) {
                    const std::uint32_t i = std::uint32_t(tid + j * P::threads);
                    pv[j] = i < n_parts ? a.x_parts[i] : 0.0f;
                }
                const auto* img = reinterpret_cast<const uint4*>(a.x_image);
                auto* xs4 = reinterpret_cast<uint4*>(smem + lay.xs);
                const std::uint32_t chunk = std::uint32_t(image_chunk<F>(lane));
                constexpr std::uint32_t kChunksPerSb = kSbValues / 8;  // 16-byte chunks: one per lane
                constexpr int IB = 4;
                for (std::uint32_t sb0 = std::uint32_t(wave); sb0 < nsb; sb0 += std::uint32_t(IB * P::waves)) {
                    uint4 q[IB];
#pragma unroll
                    for (int i = 0; i < IB; ++i) {
                        const std::uint32_t sb = sb0 + std::uint32_t(i * P::waves);
                        if (sb < nsb) q[i] = img[sb * kChunksPerSb + chunk];
                    }
#pragma unroll
                    for (int i = 0; i < IB; ++i) {
                        const std::uint32_t sb = sb0 + std::uint32_t(i * P::waves);
                        if (sb >= nsb) break;
                        xs4[sb * kChunksPerSb + std::uint32_t(lane)] = q[i];
                        if constexpr (F::has_mins) {
                            // The 8 values are a quarter of sub-block chunk / 4; the other
                            // quarters are on lanes L ^ 4, L ^ 8, L ^ 12.
                            const auto* h2 = reinterpret_cast<const __half2*>(&q[i]);
                            float part = 0.0f;
#pragma unroll
                            for (int e = 0; e < 4; ++e) part += __low2float(h2[e]) + __high2float(h2[e]);
                            part += gpu::shfl_xor(part, 4);
                            part += gpu::shfl_xor(part, 8);
                            if ((lane & 12) == 0) gsum[sb * 8u + chunk / 4u] = part;
                        }
                    }
                }
                // This thread's share of the partial sums (the rest, for K past PP blocks' worth).
#pragma unroll
                for (int j = 0; j < PP; ++j) ss += pv[j];
                for (std::uint32_t i = std::uint32_t(tid + PP * P::threads); i < n_parts; i += std::uint32_t(P::threads))
                    ss += a.x_parts[i];
                staged = true;
            }
        }
        if (!staged) {  // x in FP32 (times the norm weight), staged here
            constexpr int B = 8;  // float4 groups per lane in flight: one L2 round trip per B
            for (std::uint32_t j0 = std::uint32_t(lane); j0 < wave_groups; j0 += std::uint32_t(B * W)) {
                float xv[B][4], wv[B][4];
                std::uint32_t gi[B];
#pragma unroll
                for (int q = 0; q < B; ++q) {
                    const std::uint32_t j = j0 + std::uint32_t(q * W);
                    if (j >= wave_groups) continue;  // past this wave's share: not stored below
                    gi[q] = group_of(j);
                    const std::uint32_t k0 = gi[q] * 4;
                    if (k0 + 4 <= K) {
                        const float4 x4 = *reinterpret_cast<const float4*>(a.x + k0);
                        xv[q][0] = x4.x, xv[q][1] = x4.y, xv[q][2] = x4.z, xv[q][3] = x4.w;
                        if (a.norm) {
                            const float4 w4 = *reinterpret_cast<const float4*>(a.norm + k0);
                            wv[q][0] = w4.x, wv[q][1] = w4.y, wv[q][2] = w4.z, wv[q][3] = w4.w;
                        } else {
                            wv[q][0] = wv[q][1] = wv[q][2] = wv[q][3] = 1.0f;
                        }
                    } else {
#pragma unroll
                        for (int e = 0; e < 4; ++e) {
                            xv[q][e] = k0 + e < K ? a.x[k0 + e] : 0.0f;
                            wv[q][e] = a.norm ? (k0 + e < K ? a.norm[k0 + e] : 0.0f) : 1.0f;
                        }
                    }
                }
#pragma unroll
                for (int q = 0; q < B; ++q) {
                    const std::uint32_t j = j0 + std::uint32_t(q * W);
                    // Uniform across the wave: wave_groups is a multiple of the wave size.
                    if (j >= wave_groups) break;
                    const std::uint32_t i = gi[q];
                    float xe[4];
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        ss = fmaf(xv[q][e], xv[q][e], ss);
                        xe[e] = xv[q][e] * wv[q][e];
                    }
                    // Value e of the group is slot value j = slot_byte(e) (swapped formats) or e.
                    const float y0 = xe[0], y1 = F::slot_swapped ? xe[2] : xe[1], y2 = F::slot_swapped ? xe[1] : xe[2],
                                y3 = xe[3];
                    const std::uint32_t k = i * 4, sb = k / kSbValues;
                    int lc, t, jj;
                    F::slot_of(int(k % kSbValues), lc, t, jj);
                    // Sum of the group's values as the multiply sees them (fp16 on the tensor cores):
                    // the Q4_K offset codes (mma_sm90.hpp) cancel against the sub-block sums.
                    float four;
                    if constexpr (P::mma) {
                        auto* xs = reinterpret_cast<uint2*>(smem + lay.xs);  // 4 halves per slot
                        const __half2 lo = __floats2half2_rn(y0, y1), hi = __floats2half2_rn(y2, y3);
                        xs[sb * (kSbValues / 4) + std::uint32_t(((t / 2) * 4 + lc) * 2 + (t % 2))] =
                            make_uint2(*reinterpret_cast<const unsigned*>(&lo), *reinterpret_cast<const unsigned*>(&hi));
                        four = __low2float(lo) + __high2float(lo) + __low2float(hi) + __high2float(hi);
                    } else {
                        auto* xs = reinterpret_cast<float4*>(smem + lay.xs);
                        xs[sb * (kSbValues / 4) + std::uint32_t(t * 4 + lc)] = make_float4(y0, y1, y2, y3);
                        four = y0 + y1 + y2 + y3;
                    }
                    if constexpr (F::has_mins) {
                        // A 32-value sub-block is 8 consecutive lanes' groups (a super-block's 64
                        // groups are consecutive lanes of one or more rounds).
                        const float part = gpu::group_sum<8>(four);
                        if ((i & 7u) == 0) gsum[i / 8] = part;
                    }
                }
            }
        }
        if (a.norm) {
            ss = gpu::wave_sum<Arch>(ss);
            if (lane == 0) ssq[wave] = ss;
        }
        gpu::sync_wave();  // this wave's staged x is read by its other lanes below

        // ---- main loop over this block's row groups ----
        float scale = 0.0f;  // the norm's 1/rms, from ssq at the first reduction (row threads)
        float best = -INFINITY;  // Logits: this block's running argmax (thread 0)
        std::int32_t best_idx = 0x7FFFFFFF;
        float acc[TILES][2];

        auto compute = [&](int u, std::uint32_t sb) {
            if constexpr (P::mma) {
                const auto* xs = reinterpret_cast<const uint4*>(smem + lay.xs) + sb * (kSbValues / 8);
                const bool diag = c == (g >> 1);
                std::uint32_t xb[2 * kSlots];
#pragma unroll
                for (int tt = 0; tt < kSlots / 2; ++tt) {
                    const uint4 q = diag ? xs[tt * 4 + c] : make_uint4(0, 0, 0, 0);
                    xb[4 * tt] = q.x, xb[4 * tt + 1] = q.y, xb[4 * tt + 2] = q.z, xb[4 * tt + 3] = q.w;
                }
#pragma unroll
                for (int tile = 0; tile < TILES; ++tile)
                    sm90::mma_superblock<T>(v[u][tile][0], v[u][tile][1], mr[u][tile][0], mr[u][tile][1], c, xb,
                                            gsum + sb * 8, acc[tile][0], acc[tile][1]);
            } else {
                const auto* xs = reinterpret_cast<const float4*>(smem + lay.xs) + sb * (kSbValues / 4);
#pragma unroll
                for (int tile = 0; tile < TILES; ++tile)
#pragma unroll
                    for (int rr = 0; rr < 2; ++rr) {
                        float sc[F::chains], mn[F::chains];
                        F::chain_scales(mr[u][tile][rr], c, sc, mn);
                        float total = 0.0f;
#pragma unroll
                        for (int ch = 0; ch < F::chains; ++ch) {
                            float dot = 0.0f;
#pragma unroll
                            for (int i = 0; i < F::chain_slots; ++i) {
                                const int t = ch * F::chain_slots + i;
                                float q[4];
                                F::slot_codes(v[u][tile][rr], t, q);
                                const float4 x4 = xs[t * 4 + c];
                                dot = fmaf(q[0], x4.x, dot);
                                dot = fmaf(q[1], x4.y, dot);
                                dot = fmaf(q[2], x4.z, dot);
                                dot = fmaf(q[3], x4.w, dot);
                            }
                            total = fmaf(sc[ch], dot, total);
                            if constexpr (F::has_mins) total = fmaf(-mn[ch], gsum[sb * 8 + 2 * c + ch], total);
                        }
                        acc[tile][rr] += total;
                    }
            }
        };

        const std::uint32_t step = std::uint32_t(P::waves);
        for (;;) {
#pragma unroll
        for (int tile = 0; tile < TILES; ++tile) acc[tile][0] = acc[tile][1] = 0.0f;
        if constexpr (P::stages > 0) {
            // Refill the stage read last time with the super-block stages - 1 ahead, then wait
            // for the oldest group: stages - 1 super-blocks stay in flight per wave.
            int stage = 0;
            for (std::uint32_t sb = std::uint32_t(wave); sb < nsb; sb += step) {
                const std::uint32_t ahead = sb + std::uint32_t(P::stages - 1) * step;
                const int ahead_stage = stage == 0 ? P::stages - 1 : stage - 1;
                if (ahead < nsb) issue(ahead_stage, ahead);
                gpu::cp_async_commit();
                gpu::cp_async_wait<P::stages - 1>();
                consume(stage);
                compute(0, sb);
                stage = stage + 1 == P::stages ? 0 : stage + 1;
            }
        } else {
            // Compute buffer u, then refill it U super-blocks ahead: with U = 2 one super-block's
            // loads are always in flight while the other is computed.
            for (std::uint32_t sb0 = std::uint32_t(wave); sb0 < nsb; sb0 += std::uint32_t(U) * step) {
#pragma unroll
                for (int u = 0; u < U; ++u) {
                    const std::uint32_t sb = sb0 + std::uint32_t(u) * step;
                    if (sb >= nsb) break;
                    compute(u, sb);
                    const std::uint32_t ahead = sb + std::uint32_t(U) * step;
                    if (ahead < nsb) load(u, ahead);
                }
            }
        }

        // The next group's first super-blocks fly while this one is reduced and stored.
        const std::uint32_t next = grp + step_groups;
        std::uint32_t next_b = 0;
        GemvSegment next_seg = seg;
        if (next < total) {
            next_seg = locate(a, next, next_b);
            set_rows(next_seg, next_b);
            start_group();
        }

        // ---- reduce: 4 lanes of a row, then the waves ----
#pragma unroll
        for (int tile = 0; tile < TILES; ++tile)
#pragma unroll
            for (int rr = 0; rr < 2; ++rr) {
                float r = acc[tile][rr];
                r += gpu::shfl_xor(r, 1);
                r += gpu::shfl_xor(r, 2);
                if (c == 0) red[wave * P::block_rows + tile * P::tile_rows + rr * (P::tile_rows / 2) + g] = r;
            }
        __syncthreads();
        if (tid < P::block_rows) {
            float r = 0.0f;
#pragma unroll
            for (int w = 0; w < P::waves; ++w) r += red[w * P::block_rows + tid];
            if (a.norm) {
                if (scale == 0.0f) {
                    float total = 0.0f;
#pragma unroll
                    for (int w = 0; w < P::waves; ++w) total += ssq[w];
                    scale = 1.0f / sqrtf(total / float(K) + a.eps);
                }
                r *= scale;
            }
            res[tid] = r;
        }
        __syncthreads();

        // ---- epilogue ----
        const bool pair = seg.epilogue == GemvEpilogue::SiluPair;
        const std::uint32_t out_rows = pair ? P::block_rows / 2 : P::block_rows;
        const std::uint32_t base = b * out_rows;
        const std::uint32_t rows = seg.w.layout.rows;
        const int t = tid;
        switch (seg.epilogue) {
            case GemvEpilogue::Store:
            case GemvEpilogue::Add:
            case GemvEpilogue::MulSilu:
            case GemvEpilogue::SiluPair: {
                const bool live = t < int(out_rows) && base + std::uint32_t(t) < rows;
                float y = 0.0f;
                if (live) {
                    const std::uint32_t row = base + std::uint32_t(t);
                    // Loaded before the stores below, which the compiler must otherwise assume
                    // may alias it: one L2 round trip with the residual's, not a second one.
                    const float image_scale = a.y_image_norm ? a.y_image_norm[row] : 1.0f;
                    if (seg.epilogue == GemvEpilogue::Store) {
                        y = res[t];
                    } else if (seg.epilogue == GemvEpilogue::Add) {
                        y = seg.out[row] + res[t];
                    } else if (seg.epilogue == GemvEpilogue::MulSilu) {
                        y = detail::silu(seg.other[row]) * res[t];
                    } else {
                        const int at = (t / (P::tile_rows / 2)) * P::tile_rows + t % (P::tile_rows / 2);
                        y = detail::silu(res[at]) * res[at + P::tile_rows / 2];
                    }
                    gpu::store_activation(seg.out + row, y);
                    if (a.y_image) store_image(a.y_image, row, y * image_scale);
                }
                // Partial sums of y^2 per 16 rows (blocks start at multiples of 16 rows; gemv_launch
                // refuses parts with SiluPair's half-height blocks).
                if (a.y_parts && std::uint32_t(wave * W) < out_rows) {
                    const float sq = gpu::group_sum<int(x_parts_rows)>(y * y);
                    if (live && std::uint32_t(t) % x_parts_rows == 0) a.y_parts[(base + std::uint32_t(t)) / x_parts_rows] = sq;
                }
                break;
            }
            case GemvEpilogue::RopeStore:
            case GemvEpilogue::RopeToCache: {
                if (t < int(out_rows) / 2 && base + 2u * std::uint32_t(t) + 1u < rows) {
                    const std::uint32_t row = base + 2u * std::uint32_t(t);
                    const int p = *a.pos;
                    const std::uint32_t i = (row % a.head_dim) / 2u;
                    // From a table made at load in double precision (the angle reaches thousands
                    // of radians, where float loses the phase; computing it here took microseconds).
                    const float2 cs = a.rope[std::uint64_t(p) * (a.head_dim / 2) + i];
                    const float cf = cs.x, sf = cs.y;
                    const float x0 = res[2 * t], x1 = res[2 * t + 1];
                    const float y0 = x0 * cf - x1 * sf, y1 = x0 * sf + x1 * cf;
                    if (seg.epilogue == GemvEpilogue::RopeStore) {
                        gpu::store_activation(seg.out + row, y0);
                        gpu::store_activation(seg.out + row + 1, y1);
                    } else {
                        std::uint16_t* dst = seg.cache + std::uint64_t(p) * seg.cache_stride + row;
                        dst[0] = gpu::f32_to_half_bits(y0);
                        dst[1] = gpu::f32_to_half_bits(y1);
                    }
                }
                break;
            }
            case GemvEpilogue::ToCache:
                if (t < int(out_rows) && base + std::uint32_t(t) < rows)
                    seg.cache[std::uint64_t(*a.pos) * seg.cache_stride + base + t] = gpu::f32_to_half_bits(res[t]);
                break;
            case GemvEpilogue::Logits:
                if (t < int(out_rows) && base + std::uint32_t(t) < rows) seg.out[base + t] = res[t];
                if (t == 0)
                    for (std::uint32_t r = 0; r < out_rows && base + r < rows; ++r)
                        if (res[r] > best) best = res[r], best_idx = std::int32_t(base + r);
                break;
        }
        if (next >= total) break;
        grp = next;
        seg = next_seg;
        b = next_b;
        }  // row groups
        if (seg.epilogue == GemvEpilogue::Logits) logits_argmax(a, best, best_idx, scratch);
    }

private:
    /// Greedy argmax across blocks: one candidate per block, the last block to finish (atomic
    /// ticket) picks the winner and resets the ticket for the next replay. Ties go to the
    /// smallest id, like std::max_element on the CPU.
    GRETA_DEVICE static void logits_argmax(const GemvArgs& a, float best, std::int32_t idx, float* scratch) {
        const int t = int(threadIdx.x);
        __shared__ int last;
        if (t == 0) {
            a.arg_val[blockIdx.x] = best;
            a.arg_idx[blockIdx.x] = idx;
            __threadfence();
            last = atomicAdd(a.counter, 1u) == gridDim.x - 1;
        }
        __syncthreads();
        if (!last) return;
        __threadfence();
        const volatile float* vals = a.arg_val;
        const volatile std::int32_t* idxs = a.arg_idx;
        best = -INFINITY;
        idx = 0x7FFFFFFF;
        for (std::uint32_t i = threadIdx.x; i < gridDim.x; i += blockDim.x) {
            const float vv = vals[i];
            const std::int32_t ii = idxs[i];
            if (vv > best || (vv == best && ii < idx)) best = vv, idx = ii;
        }
        auto* sv = scratch;
        auto* si = reinterpret_cast<std::int32_t*>(scratch + blockDim.x);
        sv[t] = best;
        si[t] = idx;
        __syncthreads();
        if (t == 0) {
            for (std::uint32_t i = 1; i < blockDim.x; ++i)
                if (sv[i] > best || (sv[i] == best && si[i] < idx)) best = sv[i], idx = si[i];
            const std::int32_t token = idx == 0x7FFFFFFF ? 0 : idx;
            *a.token_out = token;
            if (a.next_io) {
                volatile std::int32_t* io = a.next_io;  // written by the host's copy or the last step
                const std::int32_t pos = io[1];
                a.token_ring[std::uint32_t(pos) % a.ring_size] = token;
                io[0] = token;
                io[1] = pos + 1;
            }
            *a.counter = 0;
        }
    }
};

/// The GEMV kernel: picks the block's segment, then runs it in its format. Segments
/// [0, n_seg_first) are in format T, the others in T2 (one launch for Q/K in Q4_K and V in
/// Q6_K, as llama.cpp's Q4_K_M stores them on half the layers).
///
/// TwoFormatPersistent: blocks [0, a.first_format_blocks) are persistent over the first
/// format's groups and the rest over the second's. A separate kernel: the persistent loop keeps
/// the next group's loads live, which costs registers (occupancy) in the one-group kernel.
template <class Arch, DType T, class Tune = GemvDefaultTune<Arch, T>, DType T2 = T, class Tune2 = Tune,
          bool TwoFormatPersistent = false>
struct GemvKernel {
    using P = GemvPolicy<Arch, T, Tune>;
    using P2 = GemvPolicy<Arch, T2, Tune2>;
    static_assert(P::threads == P2::threads, "both formats of one launch use the same block size");
    static constexpr int max_block_threads = P::threads;

    GRETA_DEVICE void operator()(GemvArgs a) const {
        const std::uint32_t total = a.seg[0].blocks + (a.n_seg > 1 ? a.seg[1].blocks : 0) + (a.n_seg > 2 ? a.seg[2].blocks : 0);
        if constexpr (T2 == T && std::is_same_v<Tune, Tune2>) {
            GemvBody<Arch, T, Tune>::run(a, blockIdx.x, gridDim.x, total);
        } else {
            if constexpr (TwoFormatPersistent) {
                std::uint32_t first_groups = 0;
#pragma unroll
                for (std::uint32_t s = 0; s < 3; ++s)  // constant indices keep the arguments out of local memory
                    if (s < a.n_seg_first && s < a.n_seg) first_groups += a.seg[s].blocks;
                const std::uint32_t nb = a.first_format_blocks;
                if (blockIdx.x < nb) GemvBody<Arch, T, Tune>::run(a, blockIdx.x, nb, first_groups);
                else GemvBody<Arch, T2, Tune2>::run(a, first_groups + (blockIdx.x - nb), gridDim.x - nb, total);
            } else {
                // One row group per block (the grid covers every group), in its format.
                int s = 0;
                if (a.n_seg > 1 && blockIdx.x >= a.seg[0].blocks)
                    s = (a.n_seg > 2 && blockIdx.x >= a.seg[0].blocks + a.seg[1].blocks) ? 2 : 1;
                if (std::uint32_t(s) < a.n_seg_first) GemvBody<Arch, T, Tune>::run(a, blockIdx.x, total, total);
                else GemvBody<Arch, T2, Tune2>::run(a, blockIdx.x, total, total);
            }
        }
    }
};

/// The persistent two-format kernel, held to 3 blocks of 128 threads per SM: left alone ptxas
/// gives it ~228 registers (2 blocks); it fits in 168, as the one-group kernel does, unspilled.
template <class Arch, DType T, class Tune, DType T2, class Tune2>
struct GemvKernelTwoFormatPersistent : GemvKernel<Arch, T, Tune, T2, Tune2, true> {
    static constexpr int min_blocks_per_sm = GemvKernel<Arch, T, Tune, T2, Tune2, true>::max_block_threads == 128 ? 3 : 1;
};

/// Launches one GEMV over a.seg[0..n_seg): segments [0, n_seg_first) in format T, the rest
/// in T2. All segments share K.
template <class Arch, DType T, class Tune = GemvDefaultTune<Arch, T>, DType T2 = T, class Tune2 = Tune>
void gemv_launch(const gpu::Stream& stream, GemvArgs a, bool overlap_previous = false, bool persistent_two_formats = false) {
    using P = GemvPolicy<Arch, T, Tune>;
    using P2 = GemvPolicy<Arch, T2, Tune2>;
    std::uint32_t blocks = 0, first_groups = 0;
    std::uint64_t first_bytes = 0, second_bytes = 0;
    const std::uint32_t nsb = a.seg[0].w.layout.nsb;
    for (std::uint32_t s = 0; s < a.n_seg; ++s) {
        GemvSegment& seg = a.seg[s];
        const bool first = s < a.n_seg_first;
        ensure(seg.w.layout.type == (first ? T : T2) && seg.w.layout.k == a.seg[0].w.layout.k,
               "GEMV segments share K and have the launch's formats");
        const bool pair = seg.epilogue == GemvEpilogue::SiluPair;
        ensure(!(a.y_parts && pair), "GEMV partial sums of y^2 need whole 16-row blocks (not SiluPair's)");
        seg.blocks = first ? P::blocks_for(seg.w.layout.rows, pair) : P2::blocks_for(seg.w.layout.rows, pair);
        blocks += seg.blocks;
        if (first) first_groups += seg.blocks;
        (first ? first_bytes : second_bytes) += seg.w.layout.total_bytes() * (pair ? 2u : 1u);
    }
    ensure(!(a.y_image || a.y_parts) || a.n_seg == 1, "GEMV image outputs are for one-segment launches");
    ensure(!a.x_image || !a.norm || a.x_parts, "a GEMV with a norm reads its x image with the partial sums of x^2");
    gpu::LaunchConfig cfg;
    cfg.block = dim3(P::threads);
    cfg.shared_bytes = std::max(P::smem(nsb).total, a.n_seg > a.n_seg_first ? P2::smem(nsb).total : 0u);
    cfg.overlap_previous = overlap_previous;
    using K = GemvKernel<Arch, T, Tune, T2, Tune2>;
    // One format: persistent blocks, at most what fits at once, each taking an equal share of
    // the row groups. Two formats: one group per block, or (persistent_two_formats) two
    // persistent sets of blocks.
    std::uint32_t grid = blocks;
    a.first_format_blocks = 0;
    if constexpr (T2 == T && std::is_same_v<Tune, Tune2>) {
        const std::uint32_t fit = gpu::resident_blocks<K, GemvArgs>(cfg);
        if (blocks > fit) grid = (blocks + (blocks + fit - 1) / fit - 1) / ((blocks + fit - 1) / fit);
    } else if (persistent_two_formats && first_groups > 0 && first_groups < blocks) {
        // What fits at once, split between the formats by two_format_split (the Q4_K_M 7B
        // layers: 2 Q4_K or 2 Q6_K groups per block at most, where a split by bytes gave some
        // blocks 3 Q4_K groups); each block stages x once for all its groups.
        using KP = GemvKernelTwoFormatPersistent<Arch, T, Tune, T2, Tune2>;
        const std::uint32_t fit = gpu::resident_blocks<KP, GemvArgs>(cfg);
        if (blocks > fit && fit >= 2) {
            const TwoFormatSplit split = two_format_split(first_groups, blocks - first_groups, first_bytes, second_bytes, fit);
            a.first_format_blocks = split.first_blocks;
            cfg.grid = dim3(split.grid);
            gpu::launch<KP>("gemv", stream, cfg, a);
            return;
        }
    }
    cfg.grid = dim3(grid);
    gpu::launch<K>("gemv", stream, cfg, a);
}

/// Register/staging shapes chosen per launch size (H100 measurements in docs/BENCHMARKS.md):
/// most Q4_K launches keep the loaded bytes in registers, one super-block ahead (the gate/up
/// pair alone streams at 74% of the bandwidth this way, 66% with cp.async staging, which adds
/// shared-memory traffic); narrow launches with long rows (ffn_down, K = 11008: 4096 rows, one
/// wave of blocks) split K over 8 waves with cp.async staging three super-blocks deep (60% vs
/// 52%). Q6_K, with more registers per super-block, stages through shared memory. Tried in the
/// tg128 chain and slower or no better (H100, 2026-11-23, same runs ~451 tok/s): O projection
/// with 8 waves and 3 stages (-4%), 4 stages of 4 waves (430), 3 or 4 register buffers (439,
/// 434), 8 waves in registers (434); gate+up/QKV with cp.async 4 or 5 deep (434, 424), 8 waves
/// 3 or 4 deep (436, 428), 3 or 4 register buffers (411, 389); Q4_K GEMVs capped at 128
/// registers for 4 blocks per SM (spills: 381); ffn_down (Q6_K) 8 waves 3 or 4 deep (452, 450).
/// ffn_down (Q4_K) five deep and the mixed Q/K/V launch three deep for both formats each
/// measured +1% alone, but together (with the persistent Q/K/V) 447 vs 450 for the old code in
/// the same run, with ffn_down's share of the step up: not kept. Since the rows of Q/K/V and
/// gate/up are grouped (formats.hpp; ~470 tok/s): Q6_K narrow launches (ffn_down on half the
/// Q4_K_M layers) with 8 waves 3 deep instead of 2 tiles of 4 waves: +0.2-0.7% (Q4_K_M), +2%
/// (Q6_K model); Q6_K in registers for V, lm_head or ffn_down: 442 / 470 / 469 vs 469.
enum class GemvShape { NarrowShortK, NarrowLongK, Wide };

template <class Arch, DType T, GemvShape S>
struct GemvShapeTune {
    using type = GemvDefaultTune<Arch, T>;
};
// The tunings are macros so a benchmark build can try others (nvcc --pre-include a header
// defining e.g. GRETA_TUNE_Q4K_WIDE as 4, 1, true, 0).
#ifndef GRETA_TUNE_Q4K_NARROW_SHORT
#define GRETA_TUNE_Q4K_NARROW_SHORT 4, 1, true, 0
#endif
#ifndef GRETA_TUNE_Q4K_NARROW
#define GRETA_TUNE_Q4K_NARROW 8, 1, true, 3
#endif
#ifndef GRETA_TUNE_Q4K_WIDE
#define GRETA_TUNE_Q4K_WIDE 4, 1, true, 0
#endif
#ifndef GRETA_TUNE_Q6K_NARROW
#define GRETA_TUNE_Q6K_NARROW 8, 1, true, 3
#endif
#ifndef GRETA_TUNE_Q6K_WIDE
#define GRETA_TUNE_Q6K_WIDE 4, 1, true, 2
#endif
#ifndef GRETA_TUNE_F16
#define GRETA_TUNE_F16 4, 1, true, 0
#endif
template <GemvShape S>
struct GemvShapeTune<arch::Sm90, DType::Q4_K, S> {
    using type = std::conditional_t<S == GemvShape::Wide, GemvTune<GRETA_TUNE_Q4K_WIDE>,
                                    std::conditional_t<S == GemvShape::NarrowLongK, GemvTune<GRETA_TUNE_Q4K_NARROW>,
                                                       GemvTune<GRETA_TUNE_Q4K_NARROW_SHORT>>>;
};
template <GemvShape S>
struct GemvShapeTune<arch::Sm90, DType::Q6_K, S> {
    using type = std::conditional_t<S == GemvShape::Wide, GemvTune<GRETA_TUNE_Q6K_WIDE>, GemvTune<GRETA_TUNE_Q6K_NARROW>>;
};
template <GemvShape S>
struct GemvShapeTune<arch::Sm90, DType::F16, S> {
    using type = GemvTune<GRETA_TUNE_F16>;
};

/// Output rows of a launch, counting both halves of a SwiGLU pair.
inline std::uint32_t gemv_output_rows(const GemvArgs& a) {
    std::uint32_t rows = 0;
    for (std::uint32_t s = 0; s < a.n_seg; ++s)
        rows += a.seg[s].w.layout.rows * (a.seg[s].epilogue == GemvEpilogue::SiluPair ? 2u : 1u);
    return rows;
}
inline constexpr std::uint32_t kGemvWideRows = 4097;
inline constexpr std::uint32_t kGemvLongK = 16 * kSbValues;

/// gemv_launch with the tuning picked from the launch's size.
template <class Arch, DType T>
void gemv_launch_auto(const gpu::Stream& stream, const GemvArgs& a, bool overlap_previous = false) {
    if (gemv_output_rows(a) >= kGemvWideRows)
        gemv_launch<Arch, T, typename GemvShapeTune<Arch, T, GemvShape::Wide>::type>(stream, a, overlap_previous);
    else if (a.seg[0].w.layout.k > kGemvLongK)
        gemv_launch<Arch, T, typename GemvShapeTune<Arch, T, GemvShape::NarrowLongK>::type>(stream, a, overlap_previous);
    else
        gemv_launch<Arch, T, typename GemvShapeTune<Arch, T, GemvShape::NarrowShortK>::type>(stream, a, overlap_previous);
}

/// Q and K in Q4_K with V in Q6_K, in one launch (segments 0-1 and 2), by default on two
/// persistent sets of blocks (persistent = true: +0.6% to +2.5% tg128 over one group per block,
/// same binary, three H100 runs).
#ifndef GRETA_TUNE_QKV_MIXED_Q4K
#define GRETA_TUNE_QKV_MIXED_Q4K 4, 1, true, 0
#endif
#ifndef GRETA_TUNE_QKV_MIXED_Q6K
#define GRETA_TUNE_QKV_MIXED_Q6K 4, 1, true, 2
#endif
template <class Arch>
void gemv_launch_qkv_q4k_q6k(const gpu::Stream& stream, GemvArgs a, bool overlap_previous = false,
                             bool persistent = true) {
    a.n_seg_first = 2;
    gemv_launch<Arch, DType::Q4_K, GemvTune<GRETA_TUNE_QKV_MIXED_Q4K>, DType::Q6_K, GemvTune<GRETA_TUNE_QKV_MIXED_Q6K>>(
        stream, a, overlap_previous, persistent);
}
#endif  // GRETA_GPU_COMPILER

}  // namespace greta::kernels
