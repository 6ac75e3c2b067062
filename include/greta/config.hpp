#pragma once
/// @file Umbrella for greta/config.
#include <greta/config/model_config.hpp>
#include <greta/config/presets.hpp>
#include <greta/config/describe.hpp>
