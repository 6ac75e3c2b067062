// libFuzzer harness: arbitrary bytes as a .safetensors file (u64 header length, JSON header,
// data buffer). Whatever parses must describe element-aligned bytes inside the buffer.

#include <cstddef>
#include <cstdint>

#include <greta/io/safetensors.hpp>

#include "fuzz_common.hpp"

using namespace greta;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto f = io::SafeTensorsFile::parse(io::MappedFile::from_bytes(fuzz::to_bytes(data, size), "fuzz.safetensors"));
        GRETA_FUZZ_ASSERT(f->data_offset() <= size);
        for (const auto& t : f->tensors()) {
            GRETA_FUZZ_ASSERT(t.n_dims <= 4);
            GRETA_FUZZ_ASSERT(t.n_bytes <= size - f->data_offset());
            GRETA_FUZZ_ASSERT(t.n_bytes == t.n_elements() * dtype_info(t.type).block_bytes);
            GRETA_FUZZ_ASSERT(reinterpret_cast<std::uintptr_t>(t.data) % dtype_info(t.type).block_bytes == 0);
        }
        fuzz::touch_tensors(f->tensors());
        for (const auto& [k, v] : f->metadata()) GRETA_FUZZ_ASSERT(v.find('\n') == std::string::npos);
    } catch (const greta::Error&) {
    }
    return 0;
}
