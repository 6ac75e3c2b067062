#pragma once
/// @file Compiler/target macros shared by host and device code. Defined once here.

#if defined(__CUDACC__) || defined(__HIP__)
#define GRETA_GPU_COMPILER 1
#define GRETA_HOST_DEVICE __host__ __device__
#define GRETA_DEVICE __device__
#define GRETA_GLOBAL __global__
#else
#define GRETA_GPU_COMPILER 0
#define GRETA_HOST_DEVICE
#define GRETA_DEVICE
#define GRETA_GLOBAL
#endif

// Architecture families, derived once. Device passes only; host passes see neither.
#if defined(__HIP_DEVICE_COMPILE__) && (defined(__gfx940__) || defined(__gfx941__) || defined(__gfx942__))
#define GRETA_ARCH_CDNA3 1
#elif defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && (__CUDA_ARCH__ < 1000)
#define GRETA_ARCH_SM90 1
#endif

#if defined(__GNUC__)
#define GRETA_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define GRETA_ALWAYS_INLINE inline
#endif
