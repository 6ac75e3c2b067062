// libFuzzer harness: arbitrary bytes as a SentencePiece .model (protobuf ModelProto), then a
// Tokenizer over whatever parsed: encode a fixed text, decode every id (up to 4096).

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <greta/tokenizer/sentencepiece_model.hpp>
#include <greta/tokenizer/stream_decoder.hpp>
#include <greta/tokenizer/tokenizer.hpp>

#include "fuzz_common.hpp"

using namespace greta;
using namespace greta::tokenizer;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    try {
        const Vocab v = vocab_from_sentencepiece_bytes(bytes, "fuzz.model");
        GRETA_FUZZ_ASSERT(v.tokens.size() == v.scores.size() && v.tokens.size() == v.types.size());
        const Tokenizer tok(v);
        for (const bool bos : {true, false}) {
            try {
                const auto ids = tok.encode("Hello  world, \xC3\xA9t\xC3\xA9 \xFF\xF0\x9F\x98\x80 <s>", bos);
                for (const auto id : ids) GRETA_FUZZ_ASSERT(id >= 0 && std::size_t(id) < tok.size());
                GRETA_FUZZ_ASSERT(fuzz::is_valid_utf8(tok.decode(ids)));
            } catch (const greta::Error&) {
                // No byte tokens and no <unk>: text the vocabulary cannot spell is an error.
            }
        }
        std::vector<std::int32_t> all;
        for (std::size_t i = 0; i < tok.size() && i < 4096; ++i) all.push_back(std::int32_t(i));
        const std::string text = tok.decode(all);
        GRETA_FUZZ_ASSERT(fuzz::is_valid_utf8(text));
        StreamDecoder stream(tok);
        std::string streamed;
        for (const auto id : all) streamed += stream.push(id);
        streamed += stream.flush();
        GRETA_FUZZ_ASSERT(streamed == text);
    } catch (const greta::Error&) {
    }
    return 0;
}
