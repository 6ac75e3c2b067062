#pragma once
/// @file StreamDecoder: turns generated token ids into text one id at a time, never splitting a
/// UTF-8 character (an emoji spelled as four byte tokens comes out whole, after the fourth).

#include <cstddef>
#include <cstdint>
#include <string>

#include <greta/tokenizer/tokenizer.hpp>
#include <greta/tokenizer/utf8.hpp>

namespace greta::tokenizer {

/// Incremental decode. The concatenation of every push() and the final flush() equals
/// Tokenizer::decode of the same ids, and each returned chunk is valid UTF-8 on its own.
/// Holds a reference: the Tokenizer must outlive the decoder.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

    /// The text completed by `id`: possibly empty while a character's bytes are still arriving.
    /// The first piece after BOS loses its leading space. Throws greta::Error on an invalid id.
    std::string push(std::int32_t id) {
        std::string out;
        tokenizer_->decode_one(id, prev_, utf8_, out);
        prev_ = id;
        return out;
    }

    /// Ends the stream: bytes of an unfinished character come out as U+FFFD, one per byte.
    std::string flush() {
        std::string out;
        utf8_.flush(out);
        return out;
    }

    /// Bytes held back, waiting for the rest of a character.
    std::size_t pending_bytes() const { return utf8_.pending(); }

    /// Forgets everything pushed so far (a new sequence starts).
    void reset() {
        utf8_ = Utf8Assembler{};
        prev_ = -1;
    }

private:
    const Tokenizer* tokenizer_;
    Utf8Assembler utf8_;
    std::int32_t prev_ = -1;
};

}  // namespace greta::tokenizer
