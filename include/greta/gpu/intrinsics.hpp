#pragma once
/// @file Device-side primitives with neutral names: wave/warp shuffles and reductions (width
/// from arch_traits, never a literal 32), grid-dependency control, 16-byte loads, half
/// conversion, and the loud trap for architecture paths that do not exist.

#include <cstdint>
#include <cstdio>

#include <greta/arch/arch.hpp>
#include <greta/gpu/runtime.hpp>

#if GRETA_GPU_HIP
#include <hip/hip_fp16.h>
#else
#include <cuda_fp16.h>
#endif

namespace greta::gpu {

template <class Arch>
inline constexpr int wave_size = arch::arch_traits<Arch>::wave_size;

/// Traps with a message: a kernel reached a path its architecture has no implementation for.
/// Computing nothing silently would hand back garbage that looks like numbers.
[[noreturn]] GRETA_DEVICE inline void unreachable_arch(const char* what, const char* file, int line) {
    printf("greta: no implementation of '%s' for this GPU architecture (%s:%d)\n", what, file, line);
#if GRETA_GPU_HIP
    __builtin_trap();
#else
    __trap();
#endif
    __builtin_unreachable();
}
#define GRETA_UNREACHABLE_ARCH(what) ::greta::gpu::unreachable_arch((what), __FILE__, __LINE__)

GRETA_DEVICE GRETA_ALWAYS_INLINE float shfl_xor(float v, int mask) {
#if GRETA_GPU_HIP
    return __shfl_xor(v, mask);
#else
    return __shfl_xor_sync(0xffffffffu, v, mask);
#endif
}
GRETA_DEVICE GRETA_ALWAYS_INLINE int shfl_xor(int v, int mask) {
#if GRETA_GPU_HIP
    return __shfl_xor(v, mask);
#else
    return __shfl_xor_sync(0xffffffffu, v, mask);
#endif
}

/// Sum over aligned groups of `Width` lanes (Width a power of two, at most the wave).
template <int Width>
GRETA_DEVICE GRETA_ALWAYS_INLINE float group_sum(float v) {
#pragma unroll
    for (int o = Width / 2; o > 0; o >>= 1) v += shfl_xor(v, o);
    return v;
}
template <int Width>
GRETA_DEVICE GRETA_ALWAYS_INLINE float group_max(float v) {
#pragma unroll
    for (int o = Width / 2; o > 0; o >>= 1) v = fmaxf(v, shfl_xor(v, o));
    return v;
}
template <class Arch>
GRETA_DEVICE GRETA_ALWAYS_INLINE float wave_sum(float v) { return group_sum<wave_size<Arch>>(v); }
template <class Arch>
GRETA_DEVICE GRETA_ALWAYS_INLINE float wave_max(float v) { return group_max<wave_size<Arch>>(v); }

/// Orders this wave's shared-memory writes before its lanes' later reads (a barrier of one wave).
GRETA_DEVICE GRETA_ALWAYS_INLINE void sync_wave() {
#if GRETA_GPU_HIP
    __builtin_amdgcn_fence(__ATOMIC_RELEASE, "wavefront");
    __builtin_amdgcn_wave_barrier();
    __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "wavefront");
#else
    __syncwarp();
#endif
}

/// Sum over the whole block; `scratch` holds one float per wave. Every thread gets the result.
template <class Arch>
GRETA_DEVICE inline float block_sum(float v, float* scratch) {
    constexpr int W = wave_size<Arch>;
    v = wave_sum<Arch>(v);
    const int lane = int(threadIdx.x) % W, wave = int(threadIdx.x) / W;
    const int waves = int(blockDim.x + W - 1) / W;
    __syncthreads();  // scratch may still be read by a previous reduction
    if (lane == 0) scratch[wave] = v;
    __syncthreads();
    float s = 0.0f;
    for (int i = 0; i < waves; ++i) s += scratch[i];
    return s;
}
template <class Arch>
GRETA_DEVICE inline float block_max(float v, float* scratch) {
    constexpr int W = wave_size<Arch>;
    v = wave_max<Arch>(v);
    const int lane = int(threadIdx.x) % W, wave = int(threadIdx.x) / W;
    const int waves = int(blockDim.x + W - 1) / W;
    __syncthreads();
    if (lane == 0) scratch[wave] = v;
    __syncthreads();
    float s = scratch[0];
    for (int i = 1; i < waves; ++i) s = fmaxf(s, scratch[i]);
    return s;
}

/// Programmatic dependent launch (Hopper): a kernel may start while its predecessor drains;
/// it must call wait_for_producers() before touching anything the predecessor writes or reads.
/// Elsewhere both are no-ops, and kernels are launched without the attribute.
GRETA_DEVICE GRETA_ALWAYS_INLINE void wait_for_producers() {
#if defined(GRETA_ARCH_SM90)
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
GRETA_DEVICE GRETA_ALWAYS_INLINE void allow_dependents() {
#if defined(GRETA_ARCH_SM90)
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

/// Asynchronous global -> shared copies (sm_80+ cp.async; used on sm_90): the bytes land in
/// shared memory without passing through registers, so many can be in flight per thread. Each
/// thread waits for its own groups; no barrier is needed when a thread reads only what it
/// copied. The "memory" clobbers keep the compiler from moving shared accesses across them.
// Weight streams may ask L2 to fetch whole 128/256-byte lines around each 16-byte request
// (GRETA_WEIGHT_L2_PREFETCH = 0, 128 or 256): neighbouring lanes and waves read those bytes
// next, and whole lines suit DRAM bursts better.
#ifndef GRETA_WEIGHT_L2_PREFETCH
#define GRETA_WEIGHT_L2_PREFETCH 256
#endif
#if GRETA_WEIGHT_L2_PREFETCH == 256
#define GRETA_L2_HINT ".L2::256B"
#elif GRETA_WEIGHT_L2_PREFETCH == 128
#define GRETA_L2_HINT ".L2::128B"
#else
#define GRETA_L2_HINT ""
#endif

#if defined(GRETA_ARCH_SM90)
/// Which lines L2 gives up first: the createpolicy operand of an `.L2::cache_hint` access.
enum class L2Evict { First, Last };
template <L2Evict E>
GRETA_DEVICE GRETA_ALWAYS_INLINE std::uint64_t l2_policy() {
    std::uint64_t p;  // not volatile: the compiler makes one per kernel
    if constexpr (E == L2Evict::First) asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(p));
    else asm("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(p));
    return p;
}
#endif

// Weight lines are read once per step; left at normal priority they push out of L2 the
// activations that the next launch reads right after its wait (its x, written by this launch).
// GRETA_WEIGHT_EVICT_FIRST=1 marks the register-path weight loads first to go: +1.4-2% tg128
// on the H100 (docs/BENCHMARKS.md, tenth session). The cp.async path takes no policy: ptxas
// 13.0 accepts cp.async with .L2::cache_hint, but the H100 faults on it (illegal instruction).
#ifndef GRETA_WEIGHT_EVICT_FIRST
#define GRETA_WEIGHT_EVICT_FIRST 1
#endif

/// Stores an activation that the next launch reads right after its wait, marked to stay in L2
/// ahead of the weight stream (the cp.async weight loads take no eviction policy, see above):
/// +0.8% tg128 on the H100 over evict-first weights alone. Activations are a few tens of KB
/// per step, rewritten in place, so what stays is bounded. GRETA_ACT_EVICT_LAST=0 turns it off.
#ifndef GRETA_ACT_EVICT_LAST
#define GRETA_ACT_EVICT_LAST 1
#endif
GRETA_DEVICE GRETA_ALWAYS_INLINE void store_activation(float* p, float v) {
#if defined(GRETA_ARCH_SM90) && GRETA_ACT_EVICT_LAST
    asm volatile("st.global.L2::cache_hint.f32 [%0], %1, %2;" ::"l"(p), "f"(v), "l"(l2_policy<L2Evict::Last>()) : "memory");
#else
    *p = v;
#endif
}

GRETA_DEVICE GRETA_ALWAYS_INLINE void cp_async16(void* smem, const void* gmem) {
#if defined(GRETA_ARCH_SM90)
    const unsigned s = unsigned(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global" GRETA_L2_HINT " [%0], [%1], 16;" ::"r"(s), "l"(gmem) : "memory");
#else
    (void)smem, (void)gmem;
    GRETA_UNREACHABLE_ARCH("cp_async16");
#endif
}
GRETA_DEVICE GRETA_ALWAYS_INLINE void cp_async4(void* smem, const void* gmem) {
#if defined(GRETA_ARCH_SM90)
    const unsigned s = unsigned(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(s), "l"(gmem) : "memory");
#else
    (void)smem, (void)gmem;
    GRETA_UNREACHABLE_ARCH("cp_async4");
#endif
}
GRETA_DEVICE GRETA_ALWAYS_INLINE void cp_async_commit() {
#if defined(GRETA_ARCH_SM90)
    asm volatile("cp.async.commit_group;" ::: "memory");
#else
    GRETA_UNREACHABLE_ARCH("cp_async_commit");
#endif
}
/// Waits until at most `Pending` of this thread's committed groups are still in flight.
template <int Pending>
GRETA_DEVICE GRETA_ALWAYS_INLINE void cp_async_wait() {
#if defined(GRETA_ARCH_SM90)
    asm volatile("cp.async.wait_group %0;" ::"n"(Pending) : "memory");
#else
    GRETA_UNREACHABLE_ARCH("cp_async_wait");
#endif
}

/// Staged copies global -> shared with one spelling on every target: asynchronous (cp.async)
/// on Hopper, a plain 16/4-byte load and store elsewhere (commit and wait are then no-ops, and
/// the copy is complete when the call returns). `zero` fills the destination with zeros instead
/// of reading (rows past the end of a tile).
GRETA_DEVICE GRETA_ALWAYS_INLINE void stage_copy16(void* smem, const void* gmem, bool zero = false) {
#if defined(GRETA_ARCH_SM90)
    const unsigned s = unsigned(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(s), "l"(gmem), "r"(zero ? 0 : 16) : "memory");
#else
    *static_cast<uint4*>(smem) = zero ? make_uint4(0, 0, 0, 0) : *static_cast<const uint4*>(gmem);
#endif
}
GRETA_DEVICE GRETA_ALWAYS_INLINE void stage_copy4(void* smem, const void* gmem) {
#if defined(GRETA_ARCH_SM90)
    const unsigned s = unsigned(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(s), "l"(gmem) : "memory");
#else
    *static_cast<std::uint32_t*>(smem) = *static_cast<const std::uint32_t*>(gmem);
#endif
}
GRETA_DEVICE GRETA_ALWAYS_INLINE void stage_commit() {
#if defined(GRETA_ARCH_SM90)
    asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}
/// Waits until at most `Pending` of this thread's staged groups are still in flight.
template <int Pending>
GRETA_DEVICE GRETA_ALWAYS_INLINE void stage_wait() {
#if defined(GRETA_ARCH_SM90)
    asm volatile("cp.async.wait_group %0;" ::"n"(Pending) : "memory");
#endif
}

/// Device time in nanoseconds (a global clock, comparable across SMs); 0 where unavailable.
GRETA_DEVICE GRETA_ALWAYS_INLINE unsigned long long global_time_ns() {
#if defined(GRETA_ARCH_SM90)
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
#else
    return 0;
#endif
}

/// Optional timeline of one launch (a profiling hook): the earliest block start, the earliest
/// return from wait_for_producers and the latest block end, in global_time_ns. `first` holds
/// two minima per launch (pre-set to all ones), `last` one maximum (pre-set to zero). Off when
/// `first` is null: a kernel then pays one uniform branch.
struct KernelTrace {
    unsigned long long* first = nullptr;
    unsigned long long* last = nullptr;
    std::uint32_t index = 0;
    enum Point { Start = 0, Waited = 1, End = 2 };
    GRETA_DEVICE void mark(Point p) const {
        if (!first || threadIdx.x != 0) return;
        const unsigned long long t = global_time_ns();
        if (p == End) atomicMax(last + index, t);
        else atomicMin(first + 2 * index + int(p), t);
    }
};
/// Marks End when a kernel body leaves, whichever return it takes.
struct TraceEndGuard {
    const KernelTrace& trace;
    GRETA_DEVICE ~TraceEndGuard() { trace.mark(KernelTrace::End); }
};

/// 16-byte load of read-only data (weights) through the non-coherent path.
GRETA_DEVICE GRETA_ALWAYS_INLINE uint4 load_u4(const void* p) {
#if GRETA_GPU_HIP
    return *static_cast<const uint4*>(p);
#elif defined(GRETA_ARCH_SM90) && GRETA_WEIGHT_EVICT_FIRST
    uint4 v;
    asm volatile("ld.global.nc.L2::cache_hint" GRETA_L2_HINT ".v4.u32 {%0,%1,%2,%3}, [%4], %5;"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p), "l"(l2_policy<L2Evict::First>()));
    return v;
#elif defined(GRETA_ARCH_SM90) && GRETA_WEIGHT_L2_PREFETCH
    uint4 v;
    asm volatile("ld.global.nc" GRETA_L2_HINT ".v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
#else
    return __ldg(static_cast<const uint4*>(p));
#endif
}
GRETA_DEVICE GRETA_ALWAYS_INLINE std::uint32_t load_u32(const void* p) {
#if GRETA_GPU_HIP
    return *static_cast<const std::uint32_t*>(p);
#else
    return __ldg(static_cast<const unsigned int*>(p));
#endif
}
GRETA_DEVICE GRETA_ALWAYS_INLINE std::uint16_t load_u16(const void* p) {
#if GRETA_GPU_HIP
    return *static_cast<const std::uint16_t*>(p);
#else
    return __ldg(static_cast<const unsigned short*>(p));
#endif
}

/// IEEE half <-> float through the hardware conversion (round to nearest even).
GRETA_DEVICE GRETA_ALWAYS_INLINE std::uint16_t f32_to_half_bits(float f) { return __half_as_ushort(__float2half_rn(f)); }
GRETA_DEVICE GRETA_ALWAYS_INLINE float half_bits_to_f32(std::uint16_t h) { return __half2float(__ushort_as_half(h)); }

GRETA_DEVICE GRETA_ALWAYS_INLINE std::uint32_t u4_word(const uint4& v, int i) {
    return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

}  // namespace greta::gpu
