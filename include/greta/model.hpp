#pragma once
/// @file Umbrella for greta/model (host parts; the GPU backend is in greta/model/gpu_backend.hpp).
#include <greta/model/weights.hpp>
#include <greta/model/backend.hpp>
#include <greta/model/cpu_backend.hpp>
#include <greta/model/synthetic.hpp>
