#pragma once
/// @file Hopper's copy engine from device code: shared-memory mbarriers that count arrivals and
/// transferred bytes, and one-dimensional bulk copies global -> shared (cp.async.bulk) that
/// complete on them. One thread issues a copy of kilobytes; no register holds the bytes in
/// flight. The instructions exist on sm_90a only; elsewhere the functions are empty (callers
/// keep them behind `if constexpr` on the architecture).

#include <cstdint>

#include <greta/gpu/runtime.hpp>

#if GRETA_GPU_COMPILER
namespace greta::gpu {

GRETA_DEVICE GRETA_ALWAYS_INLINE unsigned smem_addr(const void* p) {
#if GRETA_GPU_CUDA
    return unsigned(__cvta_generic_to_shared(p));
#else
    return unsigned(reinterpret_cast<std::uintptr_t>(p));
#endif
}

/// An mbarrier whose phase completes after `count` arrivals (plus any expected bytes).
GRETA_DEVICE GRETA_ALWAYS_INLINE void barrier_init(std::uint64_t* bar, unsigned count) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
#else
    (void)bar, (void)count;
#endif
}
/// Makes initialized barriers visible to the copy engine and the other threads (then a block barrier).
GRETA_DEVICE GRETA_ALWAYS_INLINE void fence_barrier_init() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#endif
}
/// One arrival that also expects `bytes` to land on the barrier before its phase completes.
GRETA_DEVICE GRETA_ALWAYS_INLINE void barrier_expect(std::uint64_t* bar, unsigned bytes) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
#else
    (void)bar, (void)bytes;
#endif
}
GRETA_DEVICE GRETA_ALWAYS_INLINE void barrier_arrive(std::uint64_t* bar) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_addr(bar)) : "memory");
#else
    (void)bar;
#endif
}
/// Waits until the phase of parity `parity` has completed.
GRETA_DEVICE GRETA_ALWAYS_INLINE void barrier_wait(std::uint64_t* bar, unsigned parity) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    unsigned done = 0;
    while (!done)
        asm volatile(
            "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}"
            : "=r"(done)
            : "r"(smem_addr(bar)), "r"(parity)
            : "memory");
#else
    (void)bar, (void)parity;
#endif
}
/// Copies `bytes` (a multiple of 16; both addresses 16-byte aligned) from global to shared
/// memory; the bytes count on `bar`.
GRETA_DEVICE GRETA_ALWAYS_INLINE void bulk_copy(void* dst, const void* src, unsigned bytes, std::uint64_t* bar) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                     smem_addr(dst)),
                 "l"(src), "r"(bytes), "r"(smem_addr(bar))
                 : "memory");
#else
    (void)dst, (void)src, (void)bytes, (void)bar;
#endif
}

}  // namespace greta::gpu
#endif
