#pragma once
/// @file Umbrella for greta/core.
#include <greta/core/macros.hpp>
#include <greta/core/error.hpp>
#include <greta/core/half.hpp>
#include <greta/core/dtype.hpp>
#include <greta/core/tensor_view.hpp>
#include <greta/core/thread_pool.hpp>
#include <greta/core/progress.hpp>
