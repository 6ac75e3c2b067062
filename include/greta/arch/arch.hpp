#pragma once
/// @file Target architecture tags and arch_traits<Tag>: the hardware facts kernels derive their
/// launch geometry from (wave/warp width, shared-memory/LDS size, vector width, matrix unit).
/// Host-compilable: the host side picks kernel instantiations from these at compile time.

#include <cstdint>
#include <string_view>

namespace greta::arch {

/// The host CPU (reference backend); no device code is generated for it.
struct Host {};
/// NVIDIA Hopper (sm_90 / sm_90a): H100, H200.
struct Sm90 {};
/// AMD CDNA3 (gfx942): MI300X.
struct Gfx942 {};

/// Which matrix unit a target has for small fp16 products.
enum class MatrixCore { None, MmaSync, Mfma };

template <class Tag>
struct arch_traits;

template <>
struct arch_traits<Host> {
    static constexpr std::string_view name = "host";
    static constexpr int wave_size = 1;
    static constexpr std::uint32_t shared_bytes_per_block = 0;
    static constexpr int vector_bytes = 16;
    static constexpr MatrixCore matrix_core = MatrixCore::None;
};

template <>
struct arch_traits<Sm90> {
    static constexpr std::string_view name = "sm_90";
    static constexpr int wave_size = 32;  ///< a warp
    /// Default dynamic shared memory a block may use without opting in; up to 227 KB with
    /// cudaFuncAttributeMaxDynamicSharedMemorySize.
    static constexpr std::uint32_t shared_bytes_per_block = 48 * 1024;
    static constexpr std::uint32_t shared_bytes_opt_in = 227 * 1024;
    static constexpr int vector_bytes = 16;  ///< LDG.128
    static constexpr MatrixCore matrix_core = MatrixCore::MmaSync;
};

template <>
struct arch_traits<Gfx942> {
    static constexpr std::string_view name = "gfx942";
    static constexpr int wave_size = 64;  ///< a wavefront
    static constexpr std::uint32_t shared_bytes_per_block = 64 * 1024;  ///< LDS per workgroup
    static constexpr std::uint32_t shared_bytes_opt_in = 64 * 1024;
    static constexpr int vector_bytes = 16;  ///< global_load_dwordx4
    static constexpr MatrixCore matrix_core = MatrixCore::Mfma;
};

/// Tags a device compiler may target (not the host).
template <class Tag>
concept DeviceArch = requires { arch_traits<Tag>::wave_size; } && (arch_traits<Tag>::wave_size > 1);

static_assert(DeviceArch<Sm90> && DeviceArch<Gfx942> && !DeviceArch<Host>);
static_assert(arch_traits<Gfx942>::wave_size == 64 && arch_traits<Sm90>::wave_size == 32);

}  // namespace greta::arch
