// greta_stream_patterns: read bandwidth of the decode GEMV's load pattern alone (no arithmetic),
// with its bytes in flight (128-thread blocks, two super-blocks per warp in registers), while
// the scales come from different places. A super-block cell is 16 rows x 128 payload bytes
// (Q4_K), 16 cells per row group (K = 4096), warp w reads cells w, w + 4, ...; blocks are
// persistent over groups b, b + grid, ... Loads are the GEMV's own (gpu::load_u4, with its L2 hint).
//   meta none:     payload only
//   meta separate: 16 B per row per cell from a separate region, 4 KB per group (the device
//                  layout of formats.hpp)
//   meta in cell:  each cell's 256 meta bytes follow its payload (2304-byte cells)
//   meta at end:   a group's 4 KB of meta follow its 32 KB of payload
//   meta up front: separate region, but the group's 4 KB read once when the group starts
// Lane map "gemv" reads rows g and g + 8 at c*16 + n*64 as the GEMV does, "flat" 512
// contiguous bytes per load instruction.
// Build: ninja -C BUILD tests/gpu/greta_stream_patterns (-Dgpu=cuda); run: greta_stream_patterns
#include <cstdint>
#include <cstdio>
#include <cuda_runtime.h>

#include <greta/gpu/intrinsics.hpp>

#include "stream_bench_common.hpp"

namespace {

using greta::gpu::load_u4;

enum Meta { None, Separate, InCell, AtEnd, UpFront };
constexpr std::uint64_t kGroupPayload = 16 * 2048, kGroupMeta = 16 * 256;

template <bool GemvMap, Meta M>
__global__ void __launch_bounds__(128) stream(const unsigned char* base, std::uint64_t groups, unsigned* sink) {
    unsigned acc = 0;
    const int lane = threadIdx.x % 32, w = threadIdx.x / 32, g = lane / 4, c = lane % 4;
    constexpr std::uint64_t cell = M == InCell ? 2304 : 2048;
    constexpr std::uint64_t group_bytes = M == InCell || M == AtEnd ? kGroupPayload + kGroupMeta : kGroupPayload;
    const unsigned char* meta_region = base + groups * kGroupPayload;
    auto off = [&](int rr, int n) { return GemvMap ? (g + 8 * rr) * 128 + c * 16 + n * 64 : (rr * 2 + n) * 512 + lane * 16; };
    for (std::uint64_t grp = blockIdx.x; grp < groups; grp += gridDim.x) {
        const unsigned char* p = base + grp * group_bytes;
        const unsigned char* m = M == AtEnd ? p + kGroupPayload : meta_region + grp * kGroupMeta;
        uint4 whole[2] = {};
        if (M == UpFront) whole[0] = load_u4(m + threadIdx.x * 16), whole[1] = load_u4(m + 2048 + threadIdx.x * 16);
        uint4 v[2][6];
        auto load = [&](int u, int sb) {
#pragma unroll
            for (int rr = 0; rr < 2; ++rr) {
#pragma unroll
                for (int n = 0; n < 2; ++n) v[u][rr * 2 + n] = load_u4(p + sb * cell + off(rr, n));
                if (M == InCell) v[u][4 + rr] = load_u4(p + sb * cell + 2048 + (g + 8 * rr) * 16);
                if (M == Separate || M == AtEnd) v[u][4 + rr] = load_u4(m + sb * 256 + (g + 8 * rr) * 16);
                if (M == UpFront) v[u][4 + rr] = whole[rr];
            }
        };
        auto use = [&](int u) {
#pragma unroll
            for (int j = 0; j < (M == None ? 4 : 6); ++j) acc ^= v[u][j].x ^ v[u][j].w;
        };
        load(0, w), load(1, w + 4);
        use(0), load(0, w + 8);
        use(1), load(1, w + 12);
        use(0), use(1);
    }
    if (acc == 0x12345678u) sink[0] = acc;  // data-dependent: no load is dead
}

template <bool GemvMap, Meta M>
void run(const char* name, const unsigned char* buf, std::uint64_t bytes, unsigned* sink, int blocks_per_sm) {
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    const int smem = (228 * 1024) / blocks_per_sm - 2048;  // residency limited like the GEMV's
    auto k = stream<GemvMap, M>;
    CK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    const std::uint64_t groups = bytes / (kGroupPayload + kGroupMeta);
    const int grid = sms * blocks_per_sm;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    k<<<grid, 128, smem>>>(buf, groups, sink);
    CK(cudaEventRecord(e0));
    constexpr int reps = 10;
    for (int r = 0; r < reps; ++r) k<<<grid, 128, smem>>>(buf, groups, sink);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    const double read = double(groups) * double(kGroupPayload + (M == None ? 0 : kGroupMeta));
    printf("| %-13s | %-4s | %d | %6.0f |\n", name, GemvMap ? "gemv" : "flat", blocks_per_sm, reps * read / (ms * 1e-3) / 1e9);
}

}  // namespace

int main() {
    const std::uint64_t bytes = 1ull << 31;  // far beyond L2
    unsigned char* buf = nullptr;
    unsigned* sink = nullptr;
    CK(cudaMalloc(&buf, bytes));
    CK(cudaMalloc(&sink, 64));
    CK(cudaMemset(buf, 1, bytes));
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s\n\n| meta | lanes | blocks/SM | GB/s |\n|---|---|---|---|\n", prop.name);
    for (int bps : {3, 4}) {
        run<false, None>("none", buf, bytes, sink, bps);
        run<true, None>("none", buf, bytes, sink, bps);
        run<false, Separate>("separate", buf, bytes, sink, bps);
        run<true, Separate>("separate", buf, bytes, sink, bps);
        run<true, InCell>("in cell", buf, bytes, sink, bps);
        run<true, AtEnd>("at group end", buf, bytes, sink, bps);
        run<true, UpFront>("up front", buf, bytes, sink, bps);
    }
    return 0;
}
