// libFuzzer harness: arbitrary bytes as a GGUF file, through everything a loader runs on it:
// the reader, every typed getter, the hyperparameters, weight binding plus one CPU forward
// step, and the vocabulary plus a tokenizer round trip.

#include <cstddef>
#include <cstdint>
#include <string>

#include <greta/io/gguf.hpp>
#include <greta/io/open_model_file.hpp>
#include <greta/tokenizer/gguf_vocab.hpp>
#include <greta/tokenizer/tokenizer.hpp>

#include "fuzz_common.hpp"
#include "fuzz_model.hpp"

using namespace greta;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::shared_ptr<const io::GgufFile> g;
    try {
        g = io::GgufFile::parse(io::MappedFile::from_bytes(fuzz::to_bytes(data, size), "fuzz.gguf"));
    } catch (const greta::Error&) {
        return 0;
    }
    // Whatever parsed describes bytes inside the buffer.
    for (const auto& t : g->tensors()) {
        GRETA_FUZZ_ASSERT(g->tensor_file_offset(t) <= size && t.n_bytes <= size - g->tensor_file_offset(t));
        GRETA_FUZZ_ASSERT(t.n_dims >= 1 && t.n_dims <= 4);
    }
    fuzz::touch_tensors(g->tensors());

    // Every typed view of every key: a value or a greta::Error naming the key.
    for (const auto& [key, value] : g->metadata()) {
        const std::string printed = value.to_string();
        GRETA_FUZZ_ASSERT(printed.find('\n') == std::string::npos);
        GRETA_FUZZ_ASSERT(value.serialized_size() <= size);
        try { (void)g->get_uint(key); } catch (const greta::Error&) {}
        try { (void)g->get_float(key); } catch (const greta::Error&) {}
        try { (void)g->get_string(key); } catch (const greta::Error&) {}
        try { (void)g->get_bool(key); } catch (const greta::Error&) {}
        try { (void)g->get_string_array(key); } catch (const greta::Error&) {}
        try { (void)g->get_float_array(key); } catch (const greta::Error&) {}
        try { (void)g->get_int_array(key); } catch (const greta::Error&) {}
    }

    try {
        fuzz::bind_and_step(io::gguf_model_file(g));
    } catch (const greta::Error&) {
    }

    try {
        const tokenizer::Tokenizer tok(tokenizer::vocab_from_gguf(*g));
        const auto ids = tok.encode("Once upon a time, \xF0\x9F\x98\x80 \xFF zebra", true);
        for (const auto id : ids) GRETA_FUZZ_ASSERT(id >= 0 && std::size_t(id) < tok.size());
        GRETA_FUZZ_ASSERT(fuzz::is_valid_utf8(tok.decode(ids)));
    } catch (const greta::Error&) {
    }
    return 0;
}
