#pragma once
// Shared by the tokenizer tests: llama.cpp's tokenizer fixture cases, an independent reader of
// llama2.c's tokenizer.bin, and a generator of random text.

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "shared_files.hpp"

namespace greta::test {

struct TokenizerCase {
    std::string text;
    std::vector<std::int32_t> ids;  // without BOS
};

/// llama.cpp's test-tokenizer-0 format: every input is followed by "\n__ggml_vocab_test__\n";
/// the .out file holds the expected ids, one line per input.
inline std::vector<TokenizerCase> read_tokenizer_cases(const std::filesystem::path& inp, const std::filesystem::path& out) {
    const auto raw = read_bytes(inp);
    const std::string content(raw.begin(), raw.end());
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<TokenizerCase> cases;
    for (std::size_t pos = 0;;) {
        const auto next = content.find(sep, pos);
        if (next == std::string::npos) break;
        cases.push_back({content.substr(pos, next - pos), {}});
        pos = next + sep.size();
    }
    const auto out_raw = read_bytes(out);
    std::istringstream lines(std::string(out_raw.begin(), out_raw.end()));
    std::string line;
    std::size_t i = 0;
    while (std::getline(lines, line)) {
        REQUIRE(i < cases.size());
        std::istringstream ids(line);
        for (std::int32_t id; ids >> id;) cases[i].ids.push_back(id);
        ++i;
    }
    REQUIRE(i == cases.size());
    return cases;
}

/// `s` with every U+2581 ("▁", SentencePiece's space) replaced by ' '.
inline std::string meta_to_spaces(const std::string& s) {
    const std::string meta = "\xE2\x96\x81";
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        if (s.compare(i, meta.size(), meta) == 0) {
            out += ' ';
            i += meta.size();
        } else {
            out += s[i++];
        }
    }
    return out;
}

/// The ids on line `line_no` (1-based) of a whitespace-separated id file (fixtures/ref/*.tokens).
inline std::vector<std::int32_t> read_id_line(const std::filesystem::path& p, int line_no) {
    const auto raw = read_bytes(p);
    std::istringstream lines(std::string(raw.begin(), raw.end()));
    std::string line;
    for (int i = 0; i < line_no; ++i) std::getline(lines, line);
    std::istringstream in(line);
    std::vector<std::int32_t> ids;
    for (std::int32_t id; in >> id;) ids.push_back(id);
    return ids;
}

/// llama2.c's tokenizer.bin: i32 max_token_length, then per token f32 score, i32 length, bytes.
struct Llama2cTokenizer {
    std::vector<std::string> pieces;  // "▁" already replaced by ' ' by llama2.c's exporter
    std::vector<float> scores;
};

inline Llama2cTokenizer read_llama2c_tokenizer(const std::filesystem::path& p, std::size_t n_tokens) {
    const auto b = read_bytes(p);
    Llama2cTokenizer t;
    std::size_t o = 4;
    for (std::size_t i = 0; i < n_tokens; ++i) {
        REQUIRE(o + 8 <= b.size());
        float score;
        std::int32_t len;
        std::memcpy(&score, b.data() + o, 4);
        std::memcpy(&len, b.data() + o + 4, 4);
        o += 8;
        REQUIRE(len >= 0);
        REQUIRE(o + static_cast<std::size_t>(len) <= b.size());
        t.pieces.emplace_back(b.data() + o, b.data() + o + len);
        t.scores.push_back(score);
        o += static_cast<std::size_t>(len);
    }
    REQUIRE(o == b.size());
    return t;
}

/// What llama2.c's run.c prints for a sequence (BOS itself is never printed; after BOS a leading
/// space is dropped; "<0xNN>" pieces are raw bytes). An independent decoder for the tests.
inline std::string llama2c_decode(const Llama2cTokenizer& t, const std::vector<std::int32_t>& ids, std::int32_t bos) {
    std::string out;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] == bos) continue;
        std::string piece = t.pieces[static_cast<std::size_t>(ids[i])];
        if (i > 0 && ids[i - 1] == bos && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
        unsigned byte = 0;
        if (piece.size() == 6 && std::sscanf(piece.c_str(), "<0x%02X>", &byte) == 1) piece = std::string(1, static_cast<char>(byte));
        out += piece;
    }
    return out;
}

/// Random text: ASCII (with runs of spaces, tabs, newlines), accented Latin, Cyrillic, CJK, Khmer,
/// emoji (4-byte, ZWJ sequences, variation selectors) and characters no vocabulary holds.
inline std::string random_text(std::mt19937& rng, std::size_t max_chars = 40) {
    static const std::vector<std::string> multibyte = {
        "é", "ü", "ß", "½", "ñ", "Ж", "д", "ы", "中", "文", "日", "本", "語", "ក", "ា", "្", "ស",
        "🚀", "😀", "🦙", "👩‍💻", "❤️", "✅", "€", "—", "’", "“", "\u00a0", "\u2581", "\U0001F9EA",
        "\U00010348", "\u3000", "ğ", "ș", "Ω", "∑", "→", "가", "한", "ℝ", "\u200b"};
    std::uniform_int_distribution<std::size_t> len_dist(0, max_chars);
    std::uniform_int_distribution<int> kind(0, 9), ascii(0x20, 0x7E), pick(0, static_cast<int>(multibyte.size()) - 1);
    std::string s;
    const std::size_t n = len_dist(rng);
    for (std::size_t i = 0; i < n; ++i) {
        const int k = kind(rng);
        if (k <= 4) s += static_cast<char>(ascii(rng));
        else if (k == 5) s += ' ';
        else if (k == 6) s += (rng() % 2) ? "\n" : "\t";
        else s += multibyte[static_cast<std::size_t>(pick(rng))];
    }
    return s;
}

}  // namespace greta::test
