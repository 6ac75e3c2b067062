#pragma once
/// @file tensor_elements: a tensor's data as a typed span (F32 as float, F16/BF16 as their
/// 16-bit patterns), checked for type and alignment. Quantized tensors are read by block via
/// greta/quant.

#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

#include <greta/core/dtype.hpp>
#include <greta/core/error.hpp>
#include <greta/core/tensor_view.hpp>

namespace greta::io {

/// `T` = float for F32 tensors, std::uint16_t for F16 or BF16 tensors. Throws greta::Error
/// naming `file` and the tensor if the type differs or the data is not aligned for T.
template <class T>
std::span<const T> tensor_elements(const TensorView& t, const std::string& file = {}) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, std::uint16_t>,
                  "tensor_elements reads F32 as float and F16/BF16 as uint16_t");
    const bool type_ok = std::is_same_v<T, float> ? t.type == DType::F32
                                                  : (t.type == DType::F16 || t.type == DType::BF16);
    check(type_ok, [&] {
        return "tensor is " + std::string(dtype_name(t.type)) + ", not " + (std::is_same_v<T, float> ? "F32" : "F16/BF16");
    }, {file, {}, t.name});
    check(reinterpret_cast<std::uintptr_t>(t.data) % alignof(T) == 0,
          [] { return std::string("tensor data is not aligned for its element type"); }, {file, {}, t.name});
    return {reinterpret_cast<const T*>(t.data), static_cast<std::size_t>(t.n_bytes / sizeof(T))};
}

}  // namespace greta::io
