#pragma once
/// @file gpu::launch: the one way GRETA starts a kernel. A kernel is a stateless functor
/// `struct K { static constexpr int max_block_threads = ...; GRETA_DEVICE void operator()(Args...) const; }`
/// behind a single __global__ trampoline; launch() checks the launch and names the op and its caller.

#include <algorithm>
#include <cstdint>
#include <string>

#include <greta/gpu/runtime.hpp>
#include <greta/gpu/stream.hpp>

namespace greta::gpu {

template <class Kernel, class... Args>
GRETA_GLOBAL void __launch_bounds__(Kernel::max_block_threads) kernel_entry(Args... args) {
    Kernel{}(args...);
}
/// The entry of a kernel that declares `min_blocks_per_sm`: the compiler keeps its registers
/// low enough for that many blocks per multiprocessor. (Stating 1 is not neutral: ptxas then
/// takes up to 255 registers where its default stays lower.)
template <class Kernel, class... Args>
GRETA_GLOBAL void __launch_bounds__(Kernel::max_block_threads, Kernel::min_blocks_per_sm)
    kernel_entry_min_blocks(Args... args) {
    Kernel{}(args...);
}
template <class Kernel>
constexpr int declared_min_blocks() {
    if constexpr (requires { Kernel::min_blocks_per_sm; }) return Kernel::min_blocks_per_sm;
    else return 0;
}
/// The entry to launch Kernel through: kernel_entry_min_blocks when it declares a positive
/// min_blocks_per_sm.
template <class Kernel, class... Args>
constexpr auto entry_of() {
    if constexpr (declared_min_blocks<Kernel>() > 0) return &kernel_entry_min_blocks<Kernel, Args...>;
    else return &kernel_entry<Kernel, Args...>;
}

struct LaunchConfig {
    dim3 grid{1, 1, 1};
    dim3 block{1, 1, 1};
    std::uint32_t shared_bytes = 0;  ///< dynamic shared memory / LDS
    /// Let the kernel start while the previous one in the stream drains (Hopper PDL). The
    /// kernel must call wait_for_producers() before reading or writing shared data.
    bool overlap_previous = false;
};

namespace detail {
/// Beyond the default (48 KB on NVIDIA) a kernel must opt in; one counter per kernel
/// instantiation remembers the largest amount already allowed.
template <class Kernel, class Fn>
void allow_dynamic_shared(Fn* fn, std::uint32_t bytes, const Op& op) {
    static std::uint32_t allowed = 48 * 1024;
    if (bytes <= allowed) return;
#if GRETA_GPU_HIP
    check(hipFuncSetAttribute(reinterpret_cast<const void*>(fn), hipFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), op);
#else
    check(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), op);
#endif
    allowed = bytes;
}
}  // namespace detail

/// Blocks of Kernel(args...) that fit on the whole device at once with this block size and
/// shared memory (occupancy x multiprocessors), for persistent grids. Cached per kernel,
/// shared-memory size and host thread (the pair must not be read half-written by another thread).
template <class Kernel, class... Args>
std::uint32_t resident_blocks(const LaunchConfig& cfg, const Op& op = "occupancy query") {
    thread_local std::uint32_t cached_bytes = ~0u, cached_blocks = 0;
    if (cached_bytes == cfg.shared_bytes) return cached_blocks;
    auto* fn = entry_of<Kernel, Args...>();
    detail::allow_dynamic_shared<Kernel>(fn, cfg.shared_bytes, op);
    static const int sms = device_info().multiprocessors;
    int per_sm = 0;
    const int threads = int(cfg.block.x * cfg.block.y * cfg.block.z);
#if GRETA_GPU_HIP
    check(hipOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, reinterpret_cast<const void*>(fn), threads, cfg.shared_bytes), op);
#else
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fn, threads, cfg.shared_bytes), op);
#endif
    cached_bytes = cfg.shared_bytes;
    cached_blocks = std::uint32_t(std::max(per_sm, 1) * sms);
    return cached_blocks;
}

/// Launches Kernel{}(args...) on `stream`. Errors of the launch itself (bad configuration,
/// too much shared memory) throw greta::Error naming `op` and where it was called from.
template <class Kernel, class... Args>
void launch(const Op& op, const Stream& stream, const LaunchConfig& cfg, Args... args) {
    auto* fn = entry_of<Kernel, Args...>();
    if (cfg.block.x * cfg.block.y * cfg.block.z > unsigned(Kernel::max_block_threads))
        throw Error("launch of '" + std::string(op.name) + "': block larger than the kernel's max_block_threads");
    detail::allow_dynamic_shared<Kernel>(fn, cfg.shared_bytes, op);
#if GRETA_GPU_CUDA
    if (cfg.overlap_previous) {
        cudaLaunchConfig_t lc{};
        lc.gridDim = cfg.grid;
        lc.blockDim = cfg.block;
        lc.dynamicSmemBytes = cfg.shared_bytes;
        lc.stream = stream.get();
        cudaLaunchAttribute attr[1];
        attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[0].val.programmaticStreamSerializationAllowed = 1;
        lc.attrs = attr;
        lc.numAttrs = 1;
        check(cudaLaunchKernelEx(&lc, fn, args...), op);
        return;
    }
#endif
    fn<<<cfg.grid, cfg.block, cfg.shared_bytes, stream.get()>>>(args...);
    check(vendor::last_error(), op);
}

}  // namespace greta::gpu
