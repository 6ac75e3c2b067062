// libFuzzer harness: tokenizer encode/decode on arbitrary bytes.
//
// Byte 0 picks a vocabulary and the rest of the input is the text:
//   the Llama-2 .model (32000 pieces, byte fallback, no whitespace removal);
//   tok512.model (512 pieces, byte fallback, removes extra whitespace);
//   a small built-in vocabulary with user-defined and unused pieces, no byte tokens and an
//   <unk> (the paths the real vocabularies never take).
// The same bytes, read as little-endian int32s, are also decoded as token ids, all at once
// and through StreamDecoder one id at a time.
// Properties checked: ids in range; decode output valid UTF-8; streaming == decode; for the
// Llama-2 vocabulary, decode(encode(text)) equals the text with each malformed byte replaced
// by U+FFFD and U+2581 read as a space (computed here independently).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <greta/tokenizer/sentencepiece_model.hpp>
#include <greta/tokenizer/stream_decoder.hpp>
#include <greta/tokenizer/tokenizer.hpp>

#include "fuzz_common.hpp"

using namespace greta;
using namespace greta::tokenizer;

namespace {

Vocab built_in_vocab() {
    Vocab v;
    auto add = [&](std::string piece, float score, TokenType type) {
        v.tokens.push_back(std::move(piece));
        v.scores.push_back(score);
        v.types.push_back(type);
    };
    add("<unk>", 0, TokenType::Unknown);
    add("<s>", 0, TokenType::Control);
    add("</s>", 0, TokenType::Control);
    add("<|user|>", 0, TokenType::UserDefined);
    add("<|u", 0, TokenType::UserDefined);
    const char* pieces[] = {"\xE2\x96\x81", "a", "b", "c", "ab", "abc", "\xE2\x96\x81" "a", "bc", "\xC3\xA9", "x", "y"};
    float score = -1;
    for (const char* p : pieces) add(p, score--, TokenType::Normal);
    add("xy", 5, TokenType::Unused);  // a merge step that never survives to the output
    add("xyx", 4, TokenType::Normal);
    v.add_space_prefix = true;
    return v;
}

struct Vocabularies {
    std::vector<std::unique_ptr<const Tokenizer>> all;
    std::size_t llama2 = SIZE_MAX;  // index of the vocabulary with the exact round-trip property
};

const Vocabularies& vocabularies() {
    static const Vocabularies v = [] {
        Vocabularies out;
        const auto dir = fuzz::shared_dir() / "models";
        for (const char* name : {"llama2-tokenizer.model", "tok512.model"}) {
            const auto path = dir / name;
            if (!std::filesystem::exists(path)) {
                std::fprintf(stderr, "fuzz_tokenizer: %s absent, fuzzing without it\n", path.c_str());
                continue;
            }
            if (std::string(name) == "llama2-tokenizer.model") out.llama2 = out.all.size();
            out.all.push_back(std::make_unique<const Tokenizer>(vocab_from_sentencepiece_model(path)));
        }
        out.all.push_back(std::make_unique<const Tokenizer>(built_in_vocab()));
        return out;
    }();
    return v;
}

/// Text with every byte that starts no well-formed character replaced by U+FFFD and U+2581
/// ("▁", SentencePiece's space stand-in) as the space it decodes to.
std::string sanitized(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        std::size_t n = 1;
        while (n <= 4 && !(i + n <= s.size() && fuzz::is_valid_utf8(s.substr(i, n)))) ++n;
        if (n > 4) {
            out += "\xEF\xBF\xBD";
            ++i;
            continue;
        }
        const std::string_view ch = s.substr(i, n);
        out += ch == "\xE2\x96\x81" ? std::string_view(" ") : ch;
        i += n;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    (void)vocabularies();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const auto& vocabs = vocabularies();
    const std::size_t which = data[0] % vocabs.all.size();
    const bool add_bos = (data[0] / vocabs.all.size()) % 2 == 0;
    const Tokenizer& tok = *vocabs.all[which];
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

    std::vector<std::int32_t> ids;
    try {
        ids = tok.encode(text, add_bos);
    } catch (const greta::Error&) {
        // Only a vocabulary with neither byte tokens nor <unk> may refuse text; all three can.
        fuzz::violated("encode threw on a vocabulary that can spell any text");
    }
    for (const auto id : ids) GRETA_FUZZ_ASSERT(id >= 0 && std::size_t(id) < tok.size());
    const std::string decoded = tok.decode(ids);
    GRETA_FUZZ_ASSERT(fuzz::is_valid_utf8(decoded));
    if (which == vocabs.llama2) {
        // After BOS the dummy-prefix space is dropped; without BOS it stays.
        const std::string expected = add_bos || text.empty() ? sanitized(text) : " " + sanitized(text);
        GRETA_FUZZ_ASSERT(decoded == expected);
    }

    // The input bytes as token ids (most out of range when taken whole; also folded into range).
    std::vector<std::int32_t> raw(text.size() / 4);
    if (!raw.empty()) std::memcpy(raw.data(), text.data(), raw.size() * 4);
    for (const bool fold : {false, true}) {
        std::vector<std::int32_t> seq = raw;
        if (fold)
            for (auto& id : seq) id = std::int32_t(std::uint32_t(id) % tok.size());
        std::optional<std::string> whole;
        try {
            whole = tok.decode(seq);
        } catch (const greta::Error&) {
        }
        StreamDecoder stream(tok);
        std::string streamed;
        bool threw = false;
        for (const auto id : seq) {
            try {
                const std::string piece = stream.push(id);
                GRETA_FUZZ_ASSERT(fuzz::is_valid_utf8(piece));
                streamed += piece;
            } catch (const greta::Error&) {
                threw = true;
                break;
            }
        }
        if (!threw) streamed += stream.flush();
        GRETA_FUZZ_ASSERT(threw == !whole.has_value());  // both refuse an invalid id, or neither
        if (whole) {
            GRETA_FUZZ_ASSERT(fuzz::is_valid_utf8(*whole));
            GRETA_FUZZ_ASSERT(streamed == *whole);
        }
        if (fold) GRETA_FUZZ_ASSERT(whole.has_value());
    }
    return 0;
}
