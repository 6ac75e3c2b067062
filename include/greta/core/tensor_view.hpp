#pragma once
/// @file TensorView: a named, typed, non-owning view of tensor bytes (mmap'd file or owned buffer).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include <greta/core/dtype.hpp>

namespace greta {

/// Dimensions follow GGUF: ne[0] is the contiguous (innermost) extent, i.e. a weight matrix
/// [rows x cols] has ne = {cols, rows, 1, 1}.
struct TensorView {
    std::string name;
    DType type = DType::F32;
    std::uint32_t n_dims = 0;
    std::array<std::uint64_t, 4> ne{1, 1, 1, 1};
    const std::byte* data = nullptr;
    std::uint64_t n_bytes = 0;

    std::uint64_t cols() const { return ne[0]; }
    std::uint64_t rows() const { return ne[1] * ne[2] * ne[3]; }
    std::uint64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    std::uint64_t row_stride_bytes() const { return *row_bytes(type, ne[0]); }
    const std::byte* row(std::uint64_t r) const { return data + r * row_stride_bytes(); }
};

}  // namespace greta
