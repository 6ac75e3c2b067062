#pragma once
/// @file Umbrella: device weight layouts (host-usable) and, under a GPU compiler, the decode
/// kernels (GEMV with fused norm/epilogues, attention, embedding, RMSNorm) and the prefill
/// kernels (matrix-core GEMM, weights as fp16 rows for the TMA GEMM, activation packing, causal
/// flash attention).
#include <greta/core/macros.hpp>
#include <greta/kernels/formats.hpp>
#include <greta/kernels/rope.hpp>
#if GRETA_GPU_COMPILER
#include <greta/kernels/attention.hpp>
#include <greta/kernels/dequant_half.hpp>
#include <greta/kernels/dequant_rows.hpp>
#include <greta/kernels/embed.hpp>
#include <greta/kernels/gemm.hpp>
#include <greta/kernels/gemm_tma_sm90.hpp>
#include <greta/kernels/gemv.hpp>
#include <greta/kernels/mma_atom.hpp>
#include <greta/kernels/mma_sm90.hpp>
#include <greta/kernels/pack_activations.hpp>
#include <greta/kernels/prefill_attention.hpp>
#include <greta/kernels/rmsnorm.hpp>
#include <greta/kernels/x_image.hpp>
#endif
