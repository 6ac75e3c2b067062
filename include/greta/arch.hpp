#pragma once
/// @file Umbrella: target architecture tags and traits.
#include <greta/arch/arch.hpp>
