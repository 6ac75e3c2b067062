#pragma once
// Shared by the weight-stream benchmarks (greta_layout_bw, greta_bulk_bw, greta_stream_patterns):
// the CUDA error check, a 16-byte load that skips L1, as the GEMV's weight loads do, and the
// stand-in for the GEMV's arithmetic.
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1);} } while (0)

__device__ __forceinline__ uint4 ldg(const void* p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

/// FAKE dependent FMAs per call in four chains, fed by the loaded bits (`acc`) so that neither
/// the loads nor the FMAs are dead code.
template <int FAKE>
__device__ __forceinline__ void stand_in_work(unsigned acc, float& f0, float& f1, float& f2, float& f3) {
#pragma unroll
    for (int k = 0; k < FAKE / 4; ++k) {
        f0 = fmaf(f0, 1.0001f, float(acc & 1));
        f1 = fmaf(f1, 1.0001f, f0);
        f2 = fmaf(f2, 1.0001f, 0.5f);
        f3 = fmaf(f3, 0.9999f, f2);
    }
}
