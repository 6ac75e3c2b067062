#pragma once
/// @file GRETA: header-only C++20 template engine for LLM inference. Include this.
#include <greta/core.hpp>
#include <greta/config.hpp>
