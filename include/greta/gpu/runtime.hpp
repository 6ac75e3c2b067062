#pragma once
/// @file Neutral names over the CUDA and HIP runtimes, and the one error check every host call
/// goes through. Nothing here renames a vendor symbol: greta::gpu::vendor::* are small inline
/// functions calling the vendor's API, so both vendors' headers can be read side by side.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>

#include <greta/core/error.hpp>
#include <greta/core/macros.hpp>

#if !GRETA_GPU_COMPILER
#error "greta/gpu/* needs a GPU compiler (nvcc, or clang -x hip)"
#endif

#if defined(__HIP__)
#include <hip/hip_runtime.h>
#define GRETA_GPU_HIP 1
#define GRETA_GPU_CUDA 0
#else
#include <cuda_runtime.h>
#define GRETA_GPU_HIP 0
#define GRETA_GPU_CUDA 1
#endif

namespace greta::gpu {

#if GRETA_GPU_HIP
using status_t = hipError_t;
using stream_t = hipStream_t;
using event_t = hipEvent_t;
using graph_t = hipGraph_t;
using graph_exec_t = hipGraphExec_t;
inline constexpr status_t success = hipSuccess;
inline constexpr std::string_view vendor_name = "HIP";
#else
using status_t = cudaError_t;
using stream_t = cudaStream_t;
using event_t = cudaEvent_t;
using graph_t = cudaGraph_t;
using graph_exec_t = cudaGraphExec_t;
inline constexpr status_t success = cudaSuccess;
inline constexpr std::string_view vendor_name = "CUDA";
#endif

/// What failed and where it was asked for: built implicitly from a string literal at the call
/// site, so the default argument captures the caller's location, not this header's.
struct Op {
    std::string_view name;
    std::source_location where;
    Op(const char* n, std::source_location w = std::source_location::current()) : name(n), where(w) {}
    Op(std::string_view n, std::source_location w = std::source_location::current()) : name(n), where(w) {}
};

namespace vendor {
#if GRETA_GPU_HIP
inline const char* error_string(status_t s) { return hipGetErrorString(s); }
inline status_t malloc_device(void** p, std::size_t n) { return hipMalloc(p, n); }
inline status_t free_device(void* p) { return hipFree(p); }
inline status_t malloc_pinned(void** p, std::size_t n) { return hipHostMalloc(p, n, hipHostMallocDefault); }
inline status_t free_pinned(void* p) { return hipHostFree(p); }
/// The address kernels use for pinned host memory (zero-copy writes from the device).
inline status_t pinned_device_pointer(void** d, void* h) { return hipHostGetDevicePointer(d, h, 0); }
inline status_t memcpy_h2d_async(void* d, const void* s, std::size_t n, stream_t st) { return hipMemcpyAsync(d, s, n, hipMemcpyHostToDevice, st); }
inline status_t memcpy_d2h_async(void* d, const void* s, std::size_t n, stream_t st) { return hipMemcpyAsync(d, s, n, hipMemcpyDeviceToHost, st); }
inline status_t memcpy_d2d_async(void* d, const void* s, std::size_t n, stream_t st) { return hipMemcpyAsync(d, s, n, hipMemcpyDeviceToDevice, st); }
inline status_t memset_async(void* d, int v, std::size_t n, stream_t st) { return hipMemsetAsync(d, v, n, st); }
inline status_t stream_create(stream_t* s) { return hipStreamCreateWithFlags(s, hipStreamNonBlocking); }
inline status_t stream_destroy(stream_t s) { return hipStreamDestroy(s); }
inline status_t stream_sync(stream_t s) { return hipStreamSynchronize(s); }
inline status_t event_create(event_t* e) { return hipEventCreate(e); }
inline status_t event_destroy(event_t e) { return hipEventDestroy(e); }
inline status_t event_record(event_t e, stream_t s) { return hipEventRecord(e, s); }
inline status_t event_sync(event_t e) { return hipEventSynchronize(e); }
inline status_t event_elapsed_ms(float* ms, event_t a, event_t b) { return hipEventElapsedTime(ms, a, b); }
inline status_t begin_capture(stream_t s) { return hipStreamBeginCapture(s, hipStreamCaptureModeRelaxed); }
inline status_t end_capture(stream_t s, graph_t* g) { return hipStreamEndCapture(s, g); }
inline status_t graph_instantiate(graph_exec_t* e, graph_t g) { return hipGraphInstantiate(e, g, nullptr, nullptr, 0); }
inline status_t graph_launch(graph_exec_t e, stream_t s) { return hipGraphLaunch(e, s); }
inline status_t graph_destroy(graph_t g) { return hipGraphDestroy(g); }
inline status_t graph_exec_destroy(graph_exec_t e) { return hipGraphExecDestroy(e); }
inline status_t last_error() { return hipGetLastError(); }
inline status_t device_count(int* n) { return hipGetDeviceCount(n); }
inline status_t current_device(int* d) { return hipGetDevice(d); }
inline status_t device_sync() { return hipDeviceSynchronize(); }
inline status_t mem_info(std::size_t* free_b, std::size_t* total_b) { return hipMemGetInfo(free_b, total_b); }
#else
inline const char* error_string(status_t s) { return cudaGetErrorString(s); }
inline status_t malloc_device(void** p, std::size_t n) { return cudaMalloc(p, n); }
inline status_t free_device(void* p) { return cudaFree(p); }
inline status_t malloc_pinned(void** p, std::size_t n) { return cudaMallocHost(p, n); }
inline status_t free_pinned(void* p) { return cudaFreeHost(p); }
inline status_t pinned_device_pointer(void** d, void* h) { return cudaHostGetDevicePointer(d, h, 0); }
inline status_t memcpy_h2d_async(void* d, const void* s, std::size_t n, stream_t st) { return cudaMemcpyAsync(d, s, n, cudaMemcpyHostToDevice, st); }
inline status_t memcpy_d2h_async(void* d, const void* s, std::size_t n, stream_t st) { return cudaMemcpyAsync(d, s, n, cudaMemcpyDeviceToHost, st); }
inline status_t memcpy_d2d_async(void* d, const void* s, std::size_t n, stream_t st) { return cudaMemcpyAsync(d, s, n, cudaMemcpyDeviceToDevice, st); }
inline status_t memset_async(void* d, int v, std::size_t n, stream_t st) { return cudaMemsetAsync(d, v, n, st); }
inline status_t stream_create(stream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamNonBlocking); }
inline status_t stream_destroy(stream_t s) { return cudaStreamDestroy(s); }
inline status_t stream_sync(stream_t s) { return cudaStreamSynchronize(s); }
inline status_t event_create(event_t* e) { return cudaEventCreate(e); }
inline status_t event_destroy(event_t e) { return cudaEventDestroy(e); }
inline status_t event_record(event_t e, stream_t s) { return cudaEventRecord(e, s); }
inline status_t event_sync(event_t e) { return cudaEventSynchronize(e); }
inline status_t event_elapsed_ms(float* ms, event_t a, event_t b) { return cudaEventElapsedTime(ms, a, b); }
inline status_t begin_capture(stream_t s) { return cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed); }
inline status_t end_capture(stream_t s, graph_t* g) { return cudaStreamEndCapture(s, g); }
inline status_t graph_instantiate(graph_exec_t* e, graph_t g) { return cudaGraphInstantiate(e, g, 0); }
inline status_t graph_launch(graph_exec_t e, stream_t s) { return cudaGraphLaunch(e, s); }
inline status_t graph_destroy(graph_t g) { return cudaGraphDestroy(g); }
inline status_t graph_exec_destroy(graph_exec_t e) { return cudaGraphExecDestroy(e); }
inline status_t last_error() { return cudaGetLastError(); }
inline status_t device_count(int* n) { return cudaGetDeviceCount(n); }
inline status_t current_device(int* d) { return cudaGetDevice(d); }
inline status_t device_sync() { return cudaDeviceSynchronize(); }
inline status_t mem_info(std::size_t* free_b, std::size_t* total_b) { return cudaMemGetInfo(free_b, total_b); }
#endif
}  // namespace vendor

/// Throws greta::Error naming the operation, the runtime's message and the caller.
inline void check(status_t status, const Op& op) {
    if (status == success) return;
    throw Error(std::string(vendor_name) + " call '" + std::string(op.name) + "' failed: " +
                vendor::error_string(status) + " [" + op.where.file_name() + ":" +
                std::to_string(op.where.line()) + " in " + op.where.function_name() + "]");
}

/// Number of device allocations (device and pinned host) made through greta::gpu since start.
/// Tests read it around a decode step to prove the step allocates nothing.
inline std::atomic<std::uint64_t>& allocation_counter() {
    static std::atomic<std::uint64_t> count{0};
    return count;
}

/// Devices visible to the runtime; 0 when there is no driver or no device (never throws).
inline int device_count() {
    int n = 0;
    if (vendor::device_count(&n) != success) {
        (void)vendor::last_error();  // clear the sticky "no device" error
        return 0;
    }
    return n;
}

/// The facts of the current device that launch geometry and reports need.
struct DeviceInfo {
    std::string name;
    int multiprocessors = 0;
    int cc_major = 0, cc_minor = 0;
    std::size_t global_bytes = 0;
    std::size_t l2_bytes = 0;
    std::size_t shared_per_block_opt_in = 0;
    int memory_clock_khz = 0;
    int memory_bus_bits = 0;
};

inline DeviceInfo device_info() {
    int dev = 0;
    check(vendor::current_device(&dev), "get current device");
    DeviceInfo info;
#if GRETA_GPU_HIP
    hipDeviceProp_t p{};
    check(hipGetDeviceProperties(&p, dev), "get device properties");
    info.shared_per_block_opt_in = p.sharedMemPerBlock;
#else
    cudaDeviceProp p{};
    check(cudaGetDeviceProperties(&p, dev), "get device properties");
    info.shared_per_block_opt_in = p.sharedMemPerBlockOptin;
#endif
    info.name = p.name;
    info.multiprocessors = p.multiProcessorCount;
    info.cc_major = p.major;
    info.cc_minor = p.minor;
    info.global_bytes = p.totalGlobalMem;
    info.l2_bytes = static_cast<std::size_t>(p.l2CacheSize);
#if GRETA_GPU_HIP
    info.memory_clock_khz = p.memoryClockRate;
    info.memory_bus_bits = p.memoryBusWidth;
#else
    int v = 0;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMemoryClockRate, dev) == cudaSuccess) info.memory_clock_khz = v;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrGlobalMemoryBusWidth, dev) == cudaSuccess) info.memory_bus_bits = v;
    (void)vendor::last_error();
#endif
    return info;
}

}  // namespace greta::gpu
