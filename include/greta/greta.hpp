#pragma once
/// @file GRETA: header-only C++20 template engine for LLM inference. Include this.
/// Host modules always; the GPU modules only in translation units compiled by nvcc or HIP clang.
#include <greta/core.hpp>
#include <greta/config.hpp>
#include <greta/quant.hpp>
#include <greta/io.hpp>
#include <greta/tokenizer.hpp>
#include <greta/sampling.hpp>
#include <greta/model.hpp>
#include <greta/runtime.hpp>
#include <greta/validate.hpp>
#include <greta/arch.hpp>
#if defined(__CUDACC__) || defined(__HIP__)
#include <greta/gpu.hpp>
#include <greta/kernels.hpp>
#include <greta/bench.hpp>
#include <greta/model/gpu_backend.hpp>
#endif
