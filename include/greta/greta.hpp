#pragma once
/// @file GRETA: header-only C++20 template engine for LLM inference. Include this.
#include <greta/core.hpp>
#include <greta/config.hpp>
#include <greta/quant.hpp>
#include <greta/io.hpp>
#include <greta/tokenizer.hpp>
#include <greta/sampling.hpp>
#include <greta/model.hpp>
#include <greta/runtime.hpp>
#include <greta/validate.hpp>
