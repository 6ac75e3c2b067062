#pragma once
/// @file Umbrella for greta/core.
#include <greta/core/macros.hpp>
#include <greta/core/error.hpp>
#include <greta/core/half.hpp>
#include <greta/core/dtype.hpp>
#include <greta/core/tensor_view.hpp>
