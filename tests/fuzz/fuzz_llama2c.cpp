// libFuzzer harness: arbitrary bytes as a llama2.c checkpoint (7 x int32 header, then float32
// arrays whose sizes the header implies), then weight binding and one CPU forward step.

#include <cstddef>
#include <cstdint>

#include <greta/io/llama2c.hpp>

#include "fuzz_common.hpp"
#include "fuzz_model.hpp"

using namespace greta;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto file = io::MappedFile::from_bytes(fuzz::to_bytes(data, size), "fuzz.bin");
    const bool looks = io::looks_like_llama2c(*file);
    try {
        const io::ModelFile mf = io::llama2c_model_file(file);
        GRETA_FUZZ_ASSERT(looks);  // the format sniffer and the loader agree
        for (const auto& t : mf.tensors) {
            const auto* begin = file->data();
            GRETA_FUZZ_ASSERT(t.data >= begin && t.n_bytes <= size && t.data - begin <= std::ptrdiff_t(size - t.n_bytes));
        }
        fuzz::bind_and_step(mf);
    } catch (const greta::Error&) {
    }
    return 0;
}
