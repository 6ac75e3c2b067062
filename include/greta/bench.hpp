#pragma once
/// @file Umbrella: benchmarking helpers (GPU timers and the bandwidth probe need a GPU compiler).
#include <greta/bench/bandwidth.hpp>
#include <greta/bench/gpu_timer.hpp>
