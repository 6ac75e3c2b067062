#pragma once
/// @file Umbrella for greta/runtime.
#include <greta/runtime/generator.hpp>
#include <greta/runtime/engine.hpp>
