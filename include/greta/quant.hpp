#pragma once
/// @file Umbrella for greta/quant: GGUF block formats, their dequantizers (host and device) and
/// host quantizers, and the row functions dispatched on DType.
#include <greta/quant/common.hpp>
#include <greta/quant/f32.hpp>
#include <greta/quant/f16.hpp>
#include <greta/quant/bf16.hpp>
#include <greta/quant/q8_0.hpp>
#include <greta/quant/q4_k.hpp>
#include <greta/quant/q6_k.hpp>
#include <greta/quant/row.hpp>
