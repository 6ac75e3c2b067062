#pragma once
/// @file Umbrella: neutral GPU runtime names (CUDA or HIP). Empty unless compiled by nvcc or
/// clang -x hip, so host-only code may include it unconditionally.
#include <greta/core/macros.hpp>
#if GRETA_GPU_COMPILER
#include <greta/gpu/intrinsics.hpp>
#include <greta/gpu/launch.hpp>
#include <greta/gpu/memory.hpp>
#include <greta/gpu/runtime.hpp>
#include <greta/gpu/stream.hpp>
#endif
