// greta_handover: what one kernel-to-kernel dependency costs in a chain of decode-like launches,
// and whether a counter the producer's blocks increment hands over faster than the programmatic
// launch's grid-completion wait.
//
// A CUDA graph of `chain` launches; each launch has the decode GEMV's persistent grid (three
// 128-thread blocks per SM). A block issues its first weight loads, waits for the previous
// launch, reads the previous launch's 4096-float output, streams the rest of its share of
// `mb` MiB of weights, and writes its slice of the next 4096 floats. Handover modes:
//   stream  : plain stream order (no programmatic launch)
//   pdl     : programmatic launch, griddepcontrol.wait (what the decode step does)
//   flag    : programmatic launch; thread 0 polls the previous launch's counter (acquire),
//             each block adds 1 to its own counter when done (release); dependents are
//             allowed once the block's wait is over
//   flag-early : the same with dependents allowed before the wait
//   pdl-bulk : programmatic launch, and the previous output fetched by one bulk copy (the copy
//             engine) into shared memory instead of by every thread's loads
// Then the programmatic launch with the same 12 warps per SM in fewer, larger blocks.
// Prints µs per launch and the weight bandwidth. Usage: greta_handover [chain=160] [reps=50]
#include <cstdint>
#include <cstdio>
#include <vector>

#include <greta/gpu/bulk_copy.hpp>
#include <greta/gpu/intrinsics.hpp>

#include "stream_bench_common.hpp"

namespace {

constexpr int kX = 4096;
constexpr int kAhead = 8;  // 16-byte weight loads per thread issued before the wait

enum Mode { Stream = 0, Pdl = 1, Flag = 2, FlagEarly = 3, PdlBulk = 4 };
const char* const kModeNames[] = {"stream", "pdl", "flag", "flag-early", "pdl-bulk"};
constexpr int kModes = 5;

__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

template <int MODE, int kThreads>
__global__ void __launch_bounds__(kThreads) hop(const float* x, float* y, const uint4* w, std::uint64_t w_u4_per_block,
                                                const unsigned* done_prev, unsigned* done_self, unsigned target) {
    const int tid = int(threadIdx.x);
    __shared__ alignas(128) float xs[MODE == PdlBulk ? kX : 4];
    __shared__ std::uint64_t bar;
    if (MODE == PdlBulk) {
        if (tid == 0) {
            greta::gpu::barrier_init(&bar, 1);
            greta::gpu::fence_barrier_init();
        }
        __syncthreads();
    }
    const uint4* base = w + blockIdx.x * w_u4_per_block;
    uint4 pre[kAhead];
#pragma unroll
    for (int i = 0; i < kAhead; ++i) {
        const std::uint64_t idx = std::uint64_t(tid + i * kThreads);
        pre[i] = idx < w_u4_per_block ? ldg(base + idx) : make_uint4(0, 0, 0, 0);
    }
    if (MODE == FlagEarly) greta::gpu::allow_dependents();
    if (MODE == Pdl || MODE == PdlBulk) {
        greta::gpu::allow_dependents();
        greta::gpu::wait_for_producers();
    }
    if (MODE == Flag || MODE == FlagEarly) {
        if (tid == 0)
            while (int(load_acquire(done_prev) - target) < 0) {
            }
        __syncthreads();
        if (MODE == Flag) greta::gpu::allow_dependents();
    }
    // The previous launch's output: L2 reads (an SM's L1 may hold the same lines from before).
    float s = 0.0f;
    if (MODE == PdlBulk) {
        if (tid == 0) {
            greta::gpu::barrier_expect(&bar, kX * 4);
            greta::gpu::bulk_copy(xs, x, kX * 4, &bar);
        }
        greta::gpu::barrier_wait(&bar, 0);
#pragma unroll
        for (int i = tid; i < kX / 4; i += kThreads) {
            const float4 v = reinterpret_cast<const float4*>(xs)[i];
            s += v.x + v.y + v.z + v.w;
        }
    } else {
#pragma unroll
        for (int i = tid; i < kX / 4; i += kThreads) {
            const float4 v = __ldcg(reinterpret_cast<const float4*>(x) + i);
            s += v.x + v.y + v.z + v.w;
        }
    }
    unsigned acc = 0;
#pragma unroll
    for (int i = 0; i < kAhead; ++i) acc ^= pre[i].x ^ pre[i].y ^ pre[i].z ^ pre[i].w;
    for (std::uint64_t idx = std::uint64_t(tid + kAhead * kThreads); idx < w_u4_per_block; idx += 4 * kThreads) {
        uint4 v[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const std::uint64_t j = idx + std::uint64_t(u * kThreads);
            v[u] = j < w_u4_per_block ? ldg(base + j) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < 4; ++u) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
    }
    const int per_block = (kX + int(gridDim.x) - 1) / int(gridDim.x);
    const int i = int(blockIdx.x) * per_block + tid;
    if (tid < per_block && i < kX) y[i] = 0.5f * (MODE == PdlBulk ? xs[i] : __ldcg(x + i)) + 1e-9f * s + float(acc & 1u);
    if (MODE == Flag || MODE == FlagEarly) {
        __syncthreads();
        if (tid == 0) {
            __threadfence();
            atomicAdd(done_self, 1u);
        }
    }
}

template <int MODE, int kThreads>
void enqueue(cudaStream_t s, int chain, int blocks, float* buf, const uint4* w, std::uint64_t w_u4_per_block,
             unsigned* counters, std::uint64_t w_u4_total) {
    CK(cudaMemsetAsync(counters, 0, sizeof(unsigned) * (chain + 1), s));
    for (int k = 0; k < chain; ++k) {
        const float* x = buf + (k % 2) * kX;
        float* y = buf + ((k + 1) % 2) * kX;
        const unsigned target = k == 0 ? 0u : unsigned(blocks);
        cudaLaunchConfig_t lc{};
        lc.gridDim = dim3(blocks);
        lc.blockDim = dim3(kThreads);
        lc.stream = s;
        cudaLaunchAttribute attr[1];
        attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[0].val.programmaticStreamSerializationAllowed = 1;
        lc.attrs = attr;
        lc.numAttrs = (MODE == Stream || k == 0) ? 0 : 1;
        // Each launch reads its own weights (the buffer is many times L2), as the layers do.
        const std::uint64_t launch_u4 = w_u4_per_block * std::uint64_t(blocks);
        const uint4* wk = w + (launch_u4 ? (std::uint64_t(k) * launch_u4) % (w_u4_total - launch_u4) : 0);
        CK(cudaLaunchKernelEx(&lc, hop<MODE, kThreads>, x, y, wk, w_u4_per_block, (const unsigned*)(counters + k), counters + k + 1,
                              target));
    }
}

template <int MODE, int kThreads = 128>
double run(int chain, int reps, int blocks, float* buf, const uint4* w, std::uint64_t w_u4_per_block, unsigned* counters,
           std::uint64_t w_u4_total) {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    cudaGraph_t g;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    enqueue<MODE, kThreads>(s, chain, blocks, buf, w, w_u4_per_block, counters, w_u4_total);
    CK(cudaStreamEndCapture(s, &g));
    cudaGraphExec_t ge;
    CK(cudaGraphInstantiate(&ge, g, 0));
    for (int i = 0; i < 3; ++i) CK(cudaGraphLaunch(ge, s));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaEventRecord(e0, s));
    for (int i = 0; i < reps; ++i) CK(cudaGraphLaunch(ge, s));
    CK(cudaEventRecord(e1, s));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    CK(cudaGraphExecDestroy(ge));
    CK(cudaGraphDestroy(g));
    CK(cudaStreamDestroy(s));
    return 1e3 * double(ms) / reps / chain;
}

}  // namespace

int main(int argc, char** argv) {
    const int chain = argc > 1 ? std::atoi(argv[1]) : 160;
    const int reps = argc > 2 ? std::atoi(argv[2]) : 50;
    cudaDeviceProp prop{};
    CK(cudaGetDeviceProperties(&prop, 0));
    const int sms = prop.multiProcessorCount;
    const double mbs[] = {0.0, 9.4, 25.0, 50.7};
    const std::uint64_t max_bytes = std::uint64_t(1) << 30;
    uint4* w;
    float* buf;
    unsigned* counters;
    CK(cudaMalloc(&w, max_bytes));
    CK(cudaMemset(w, 1, max_bytes));
    CK(cudaMalloc(&buf, 2 * kX * sizeof(float)));
    CK(cudaMemset(buf, 0, 2 * kX * sizeof(float)));
    CK(cudaMalloc(&counters, sizeof(unsigned) * (chain + 1)));
    std::printf("%s, %d SMs, chains of %d launches, %d graph replays\n", prop.name, sms, chain, reps);
    std::printf("| weights per launch (MiB) | mode | blocks x threads | us per launch | weight GB/s |\n|---|---|---|---|---|\n");
    auto row = [&](double mb, int mode, int blocks, int threads, double us, std::uint64_t u4_per_block) {
        const double gbs = double(u4_per_block) * 16.0 * blocks / (us * 1e3);
        std::printf("| %.1f | %s | %d x %d | %.2f | %.0f |\n", mb, kModeNames[mode], blocks, threads, us, gbs);
    };
    // Handover modes on the GEMV's grid: three 128-thread blocks per SM.
    for (const double mb : mbs) {
        const int blocks = 3 * sms;
        const std::uint64_t u4 = std::uint64_t(mb * 1024 * 1024 / 16 / blocks), total = max_bytes / 16;
        for (int mode = 0; mode < kModes; ++mode) {
            double us = 0;
            switch (mode) {
                case Stream: us = run<Stream>(chain, reps, blocks, buf, w, u4, counters, total); break;
                case Pdl: us = run<Pdl>(chain, reps, blocks, buf, w, u4, counters, total); break;
                case Flag: us = run<Flag>(chain, reps, blocks, buf, w, u4, counters, total); break;
                case FlagEarly: us = run<FlagEarly>(chain, reps, blocks, buf, w, u4, counters, total); break;
                case PdlBulk: us = run<PdlBulk>(chain, reps, blocks, buf, w, u4, counters, total); break;
            }
            row(mb, mode, blocks, 128, us, u4);
        }
    }
    // The same warps per SM (12) and loads in flight, in fewer, larger blocks.
    for (const double mb : mbs) {
        const std::uint64_t total = max_bytes / 16;
        const std::uint64_t u4_1 = std::uint64_t(mb * 1024 * 1024 / 16 / sms), u4_2 = std::uint64_t(mb * 1024 * 1024 / 16 / (2 * sms));
        row(mb, Pdl, sms, 384, run<Pdl, 384>(chain, reps, sms, buf, w, u4_1, counters, total), u4_1);
        row(mb, Pdl, 2 * sms, 192, run<Pdl, 192>(chain, reps, 2 * sms, buf, w, u4_2, counters, total), u4_2);
    }
    return 0;
}
