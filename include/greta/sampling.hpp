#pragma once
/// @file Umbrella for greta/sampling: seeded RNG, sampling parameters, filters and the Sampler.
#include <greta/sampling/rng.hpp>
#include <greta/sampling/params.hpp>
#include <greta/sampling/filters.hpp>
#include <greta/sampling/sampler.hpp>
