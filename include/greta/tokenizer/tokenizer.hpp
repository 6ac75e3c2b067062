#pragma once
/// @file Tokenizer: SentencePiece-BPE encoding and decoding over a Vocab, as Llama models use it.
///
/// Encoding, as SentencePiece does it for BPE models:
///   1. normalize: spaces become "▁" (U+2581), a "▁" is prepended (add_space_prefix), malformed
///      UTF-8 bytes become U+FFFD, and optionally extra whitespace is removed;
///   2. split into characters (user-defined pieces are taken whole and never merged);
///   3. repeatedly merge the adjacent pair whose concatenation is a piece with the highest score,
///      the leftmost on ties (a priority queue of candidate pairs: O(n log n));
///   4. a symbol that is no piece becomes byte tokens <0xNN>, one per UTF-8 byte (or <unk>).
/// Control, unknown and byte tokens never match user text; an unused piece may be a merge step
/// but is split back into its parts if it survives to the output (SentencePiece does the same).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <greta/core/error.hpp>
#include <greta/tokenizer/utf8.hpp>
#include <greta/tokenizer/vocab.hpp>

namespace greta::tokenizer {

class StreamDecoder;

namespace detail {
/// Transparent hash so maps keyed by std::string can be searched with a string_view.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// Longest-prefix lookup over a set of strings (the user-defined pieces): a byte trie, so a
/// lookup costs at most the length of the longest piece matching the text there. Looking up
/// every prefix length in a hash set instead costs O(L^2) per text position for a piece of L
/// bytes: one 100 kB user-defined piece in a vocabulary made a 10 kB prompt take 25 s to
/// encode (regression test: tests/reliability).
class PrefixMatcher {
public:
    void insert(std::string_view s) {
        if (nodes_.empty()) nodes_.push_back({});
        std::int32_t node = 0;
        for (const char ch : s) {
            const auto c = static_cast<unsigned char>(ch);
            std::int32_t child = find(node, c);
            if (child < 0) {
                check(nodes_.size() < std::size_t(INT32_MAX), [] { return std::string("user-defined pieces too long"); });
                child = static_cast<std::int32_t>(nodes_.size());
                nodes_.push_back({-1, nodes_[std::size_t(node)].first_child, c, false});
                nodes_[std::size_t(node)].first_child = child;
            }
            node = child;
        }
        nodes_[std::size_t(node)].terminal = true;
    }
    bool empty() const noexcept { return nodes_.empty(); }
    /// Length of the longest inserted string that `s` starts with; 0 if none (or only "").
    std::size_t longest_prefix(std::string_view s) const {
        std::size_t best = 0;
        std::int32_t node = nodes_.empty() ? -1 : 0;
        for (std::size_t i = 0; node >= 0 && i < s.size(); ++i) {
            node = find(node, static_cast<unsigned char>(s[i]));
            if (node >= 0 && nodes_[std::size_t(node)].terminal) best = i + 1;
        }
        return best;
    }

private:
    struct Node {
        std::int32_t first_child = -1, next_sibling = -1;
        unsigned char byte = 0;
        bool terminal = false;
    };
    std::int32_t find(std::int32_t node, unsigned char c) const {
        for (std::int32_t k = nodes_[std::size_t(node)].first_child; k >= 0; k = nodes_[std::size_t(k)].next_sibling)
            if (nodes_[std::size_t(k)].byte == c) return k;
        return -1;
    }
    std::vector<Node> nodes_;
};
}  // namespace detail

/// SentencePiece's surface for <unk> in decoded text: " ⁇ " (U+2047 with spaces).
inline constexpr std::string_view unknown_surface = " \xE2\x81\x87 ";

/// Encodes text to ids and decodes ids to text. Immutable after construction, so one instance
/// can serve many threads.
class Tokenizer {
public:
    /// Validates the vocabulary and builds the lookup tables. Throws greta::Error if inconsistent.
    explicit Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
        validate_vocab(vocab_, "tokenizer vocabulary");
        byte_ids_.fill(-1);
        const std::size_t n = vocab_.tokens.size();
        texts_.resize(n);
        byte_values_.assign(n, 0);
        pieces_.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            const auto id = static_cast<std::int32_t>(i);
            const std::string& piece = vocab_.tokens[i];
            switch (vocab_.types[i]) {
                case TokenType::Normal:
                case TokenType::Unused:
                case TokenType::UserDefined:
                    // First occurrence wins if a (GGUF) vocabulary repeats a piece.
                    pieces_.emplace(piece, id);
                    if (vocab_.types[i] == TokenType::UserDefined && !piece.empty()) user_defined_.insert(piece);
                    texts_[i] = with_spaces(piece);
                    break;
                case TokenType::Byte: {
                    const auto b = *parse_byte_piece(piece);
                    byte_values_[i] = b;
                    if (byte_ids_[b] < 0) byte_ids_[b] = id;
                    break;
                }
                case TokenType::Unknown: texts_[i] = std::string(unknown_surface); break;
                case TokenType::Control: break;  // invisible in text
            }
        }
        byte_fallback_ = true;
        for (auto b : byte_ids_) byte_fallback_ = byte_fallback_ && b >= 0;
    }

    /// Token ids of `text`, preceded by BOS when add_bos (and the vocabulary has one).
    std::vector<std::int32_t> encode(std::string_view text, bool add_bos) const {
        std::vector<std::int32_t> ids;
        if (add_bos && vocab_.bos >= 0) ids.push_back(vocab_.bos);
        const std::string normalized = normalize(text);
        if (!normalized.empty()) segment(normalized, ids);
        return ids;
    }

    /// The text of `ids`. Control tokens are invisible; byte tokens are assembled into UTF-8 (bytes
    /// that form no valid character become U+FFFD, so the result is always valid UTF-8); the
    /// piece right after BOS loses its leading space (the dummy prefix), as llama2.c and
    /// llama.cpp print it. Throws greta::Error on an id outside the vocabulary.
    std::string decode(std::span<const std::int32_t> ids) const {
        std::string out;
        Utf8Assembler utf8;
        std::int32_t prev = -1;
        for (const auto id : ids) {
            decode_one(id, prev, utf8, out);
            prev = id;
        }
        utf8.flush(out);
        return out;
    }

    /// The vocabulary's piece for `id` (e.g. "▁the", "<0x0A>", "<s>").
    std::string_view piece(std::int32_t id) const {
        check_id(id);
        return vocab_.tokens[static_cast<std::size_t>(id)];
    }
    TokenType type(std::int32_t id) const {
        check_id(id);
        return vocab_.types[static_cast<std::size_t>(id)];
    }
    std::int32_t bos() const { return vocab_.bos; }
    std::int32_t eos() const { return vocab_.eos; }
    std::size_t size() const { return vocab_.tokens.size(); }
    const Vocab& vocab() const { return vocab_; }
    /// Whether characters missing from the vocabulary are spelled with <0xNN> tokens.
    bool has_byte_fallback() const { return byte_fallback_; }

    /// The text SentencePiece would segment for `text` (see the file comment, step 1).
    std::string normalize(std::string_view text) const {
        std::string out;
        if (vocab_.remove_extra_whitespaces)
            while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
        if (text.empty()) return out;
        out.reserve(text.size() * 3 / 2 + space_symbol.size());
        if (vocab_.add_space_prefix) out += space_symbol;
        bool prev_space = false;
        while (!text.empty()) {
            const std::size_t n = utf8_char_length(text);
            if (n == 0) {
                out += replacement_character;  // SentencePiece replaces each malformed byte
                prev_space = false;
                text.remove_prefix(1);
                continue;
            }
            const bool is_space = n == 1 && text.front() == ' ';
            if (is_space) {
                if (!(vocab_.remove_extra_whitespaces && prev_space)) out += space_symbol;
            } else {
                out.append(text.substr(0, n));
            }
            prev_space = is_space;
            text.remove_prefix(n);
        }
        if (vocab_.remove_extra_whitespaces)
            while (out.size() >= space_symbol.size() && std::string_view(out).ends_with(space_symbol))
                out.resize(out.size() - space_symbol.size());
        return out;
    }

private:
    friend class StreamDecoder;

    void check_id(std::int32_t id) const {
        check(id >= 0 && static_cast<std::size_t>(id) < vocab_.tokens.size(), [&] {
            return "token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab_.tokens.size());
        });
    }

    static std::string with_spaces(std::string_view piece) {
        std::string s;
        s.reserve(piece.size());
        while (!piece.empty()) {
            if (piece.starts_with(space_symbol)) {
                s += ' ';
                piece.remove_prefix(space_symbol.size());
            } else {
                s += piece.front();
                piece.remove_prefix(1);
            }
        }
        return s;
    }

    /// Appends the text of `id` (which follows `prev`) to `out` through `utf8`.
    void decode_one(std::int32_t id, std::int32_t prev, Utf8Assembler& utf8, std::string& out) const {
        check_id(id);
        const auto i = static_cast<std::size_t>(id);
        const TokenType t = vocab_.types[i];
        if (t == TokenType::Byte) {
            utf8.push_byte(byte_values_[i], out);
            return;
        }
        std::string_view text = texts_[i];
        const bool is_piece = t == TokenType::Normal || t == TokenType::UserDefined || t == TokenType::Unused;
        if (is_piece && prev >= 0 && prev == vocab_.bos && vocab_.tokens[i].starts_with(space_symbol))
            text.remove_prefix(1);  // the dummy-prefix space of the first word
        utf8.push_text(text, out);
    }

    std::int32_t find_piece(std::string_view s) const {
        const auto it = pieces_.find(s);
        return it == pieces_.end() ? -1 : it->second;
    }

    /// Steps 2-4 of the file comment over normalized text; appends ids.
    void segment(std::string_view text, std::vector<std::int32_t>& ids) const {
        struct Symbol {
            std::string_view piece;
            int prev, next;
            bool frozen;  // a user-defined piece: never merged
        };
        struct Pair {
            float score;
            int left, right;
            std::size_t size;  // bytes of the merged piece; a stale pair no longer matches it
        };
        // Highest score first; on a tie the leftmost pair (smaller left index).
        auto lower_priority = [](const Pair& a, const Pair& b) {
            return a.score < b.score || (a.score == b.score && a.left > b.left);
        };
        std::priority_queue<Pair, std::vector<Pair>, decltype(lower_priority)> agenda(lower_priority);
        // For unused pieces only: how the merged piece was formed, to split it back at the end.
        std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> unmerge;

        std::vector<Symbol> symbols;
        symbols.reserve(text.size());
        for (std::size_t pos = 0; pos < text.size();) {
            std::size_t n = match_user_defined(text.substr(pos));
            const bool frozen = n > 0;
            if (!frozen) n = std::max<std::size_t>(1, utf8_char_length(text.substr(pos)));
            const int index = static_cast<int>(symbols.size());
            symbols.push_back({text.substr(pos, n), index - 1, pos + n < text.size() ? index + 1 : -1, frozen});
            pos += n;
        }

        auto consider = [&](int left, int right) {
            if (left < 0 || right < 0 || symbols[left].frozen || symbols[right].frozen) return;
            const std::string_view merged(symbols[left].piece.data(), symbols[left].piece.size() + symbols[right].piece.size());
            const std::int32_t id = find_piece(merged);
            if (id < 0) return;
            agenda.push({vocab_.scores[static_cast<std::size_t>(id)], left, right, merged.size()});
            if (vocab_.types[static_cast<std::size_t>(id)] == TokenType::Unused)
                unmerge[merged] = {symbols[left].piece, symbols[right].piece};
        };
        for (std::size_t i = 1; i < symbols.size(); ++i) consider(static_cast<int>(i) - 1, static_cast<int>(i));

        while (!agenda.empty()) {
            const Pair top = agenda.top();
            agenda.pop();
            Symbol& left = symbols[top.left];
            Symbol& right = symbols[top.right];
            // Stale: one side was merged away, or grew since this pair was queued.
            if (left.piece.empty() || right.piece.empty() || left.piece.size() + right.piece.size() != top.size) continue;
            left.piece = std::string_view(left.piece.data(), top.size);
            right.piece = {};
            left.next = right.next;
            if (right.next >= 0) symbols[right.next].prev = top.left;
            consider(left.prev, top.left);
            consider(top.left, left.next);
        }

        bool prev_unknown = false;
        for (int i = 0; i >= 0; i = symbols[i].next) emit(symbols[i].piece, unmerge, ids, prev_unknown);
    }

    /// Length of the longest user-defined piece at the start of s (0 if none).
    std::size_t match_user_defined(std::string_view s) const {
        return user_defined_.empty() ? 0 : user_defined_.longest_prefix(s);
    }

    void emit(std::string_view piece,
              const std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>>& unmerge,
              std::vector<std::int32_t>& ids, bool& prev_unknown) const {
        const std::int32_t id = find_piece(piece);
        if (id >= 0) {
            // An unused piece may serve as a merge step but is never output: split it back.
            if (vocab_.types[static_cast<std::size_t>(id)] == TokenType::Unused) {
                if (const auto it = unmerge.find(piece); it != unmerge.end()) {
                    emit(it->second.first, unmerge, ids, prev_unknown);
                    emit(it->second.second, unmerge, ids, prev_unknown);
                    return;
                }
            }
            ids.push_back(id);
            prev_unknown = false;
        } else if (byte_fallback_) {
            for (const char c : piece) ids.push_back(byte_ids_[static_cast<std::uint8_t>(c)]);
            prev_unknown = false;
        } else {
            check(vocab_.unk >= 0, [&] {
                return "cannot encode '" + std::string(piece) + "': no such piece, no byte tokens and no unknown token";
            });
            if (!prev_unknown) ids.push_back(vocab_.unk);  // a run of unknown symbols is one <unk>
            prev_unknown = true;
        }
    }

    Vocab vocab_;
    std::unordered_map<std::string, std::int32_t, detail::StringHash, std::equal_to<>> pieces_;  // mergeable pieces
    detail::PrefixMatcher user_defined_;
    std::array<std::int32_t, 256> byte_ids_{};
    bool byte_fallback_ = false;
    std::vector<std::string> texts_;           // decoded text per id ("▁" as space); empty for control/byte
    std::vector<std::uint8_t> byte_values_;    // the byte of each byte token
};

}  // namespace greta::tokenizer
