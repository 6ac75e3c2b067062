#pragma once
/// @file Umbrella for greta/validate.
#include <greta/validate/parity.hpp>
