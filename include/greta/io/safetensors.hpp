#pragma once
/// @file SafeTensorsFile: a validated .safetensors file and views of its F32/F16/BF16 tensors.
///
/// Layout: u64 little-endian header length N, N bytes of JSON
/// {"name": {"dtype": "F16", "shape": [rows, cols], "data_offsets": [begin, end]}, ...,
///  "__metadata__": {...}}, then the byte buffer the offsets index (relative to 8 + N).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <greta/core/dtype.hpp>
#include <greta/core/error.hpp>
#include <greta/core/tensor_view.hpp>
#include <greta/io/mmap.hpp>

namespace greta::io {

/// The reference implementation refuses headers above 100 MB; so do we.
inline constexpr std::uint64_t safetensors_max_header = 100'000'000;
/// Deepest JSON nesting accepted in a SafeTensors header or a config.json. nlohmann::json
/// parses and destroys iteratively, but dump() and copies recurse once per level: a 200 kB
/// header of nested arrays in "__metadata__" overflowed the stack (regression test:
/// tests/reliability). Real headers nest 3 levels, config.json files about 4.
inline constexpr int json_max_depth = 64;

namespace detail {
/// One-line form of a library message (JSON errors quote input, which may hold newlines).
inline std::string one_line(std::string s) {
    for (char& c : s)
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    return s;
}

/// A JSON integer >= 0 (parsed JSON gives unsigned, JSON built in code may give signed).
inline std::optional<std::uint64_t> json_uint(const nlohmann::json& j) {
    if (j.is_number_unsigned()) return j.get<std::uint64_t>();
    if (j.is_number_integer() && j.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(j.get<std::int64_t>());
    return std::nullopt;
}

inline std::optional<DType> safetensors_dtype(std::string_view s) {
    if (s == "F32") return DType::F32;
    if (s == "F16") return DType::F16;
    if (s == "BF16") return DType::BF16;
    return std::nullopt;
}
}  // namespace detail

/// A parsed .safetensors file. Tensor views keep the file's names; ne is the reverse of the
/// JSON shape (shape [out, in] becomes ne = {in, out}, GGUF's order).
class SafeTensorsFile {
public:
    static std::shared_ptr<const SafeTensorsFile> open(const std::filesystem::path& path) {
        return parse(MappedFile::open(path));
    }

    /// Parses mapped or in-memory bytes (fuzzing entry point). Throws greta::Error on any
    /// malformed input.
    static std::shared_ptr<const SafeTensorsFile> parse(std::shared_ptr<const MappedFile> file) {
        ensure(file != nullptr, "SafeTensorsFile::parse needs a file");
        auto s = std::shared_ptr<SafeTensorsFile>(new SafeTensorsFile());
        s->file_ = std::move(file);
        s->parse_all();
        return s;
    }

    const std::string& path() const noexcept { return file_->path(); }
    /// File offset of the byte buffer (8 + header length).
    std::uint64_t data_offset() const noexcept { return data_offset_; }
    /// Tensors in the order of their data in the file.
    const std::vector<TensorView>& tensors() const noexcept { return tensors_; }
    const TensorView* find(std::string_view name) const {
        for (const auto& t : tensors_)
            if (t.name == name) return &t;
        return nullptr;
    }
    /// String entries of "__metadata__" (informational only).
    const std::vector<std::pair<std::string, std::string>>& metadata() const noexcept { return metadata_; }

private:
    SafeTensorsFile() = default;

    void parse_all() {
        const std::string& name = file_->path();
        const std::uint64_t size = file_->size();
        if (size < 8)
            throw Error("truncated file: the SafeTensors header length needs 8 bytes, the file has " + std::to_string(size),
                        {name, 0, {}});
        std::uint64_t header_len = 0;
        std::memcpy(&header_len, file_->data(), 8);
        if (header_len > size - 8)
            throw Error("header length " + std::to_string(header_len) + " exceeds the " + std::to_string(size - 8) +
                            " bytes after it (truncated or not a SafeTensors file)",
                        {name, 0, {}});
        if (header_len > safetensors_max_header)
            throw Error("header length " + std::to_string(header_len) + " exceeds the 100 MB limit", {name, 0, {}});
        data_offset_ = 8 + header_len;
        const std::uint64_t buffer_size = size - data_offset_;

        // Duplicate top-level names would silently overwrite each other in the parsed object.
        std::set<std::string> seen;
        std::string duplicate;
        const auto* begin = reinterpret_cast<const char*>(file_->data() + 8);
        nlohmann::json header;
        try {
            header = nlohmann::json::parse(begin, begin + header_len,
                [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
                    if (depth > json_max_depth)
                        throw Error("JSON header nested deeper than " + std::to_string(json_max_depth) + " levels",
                                    {name, 8, {}});
                    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string() &&
                        !seen.insert(parsed.get<std::string>()).second && duplicate.empty())
                        duplicate = parsed.get<std::string>();
                    return true;
                });
        } catch (const nlohmann::json::parse_error& e) {
            throw Error("invalid JSON header: " + detail::one_line(e.what()), {name, 8 + e.byte, {}});
        } catch (const nlohmann::json::exception& e) {
            throw Error("invalid JSON header: " + detail::one_line(e.what()), {name, 8, {}});
        }
        if (!duplicate.empty()) throw Error("duplicate tensor name in the header", {name, 8, duplicate});
        if (!header.is_object()) throw Error("the JSON header is not an object", {name, 8, {}});

        struct Span { std::uint64_t begin, end; std::size_t index; };
        std::vector<Span> spans;
        for (const auto& [key, entry] : header.items()) {
            const ErrorContext ctx{name, {}, key};
            if (key == "__metadata__") {
                if (entry.is_object())
                    for (const auto& [k, v] : entry.items())
                        metadata_.emplace_back(k, v.is_string() ? v.get<std::string>() : detail::one_line(v.dump()));
                continue;
            }
            if (!entry.is_object()) throw Error("tensor entry is not a JSON object", ctx);
            const auto dtype_it = entry.find("dtype");
            if (dtype_it == entry.end() || !dtype_it->is_string()) throw Error("tensor entry has no \"dtype\" string", ctx);
            const std::string dtype_name = dtype_it->get<std::string>();
            const auto dtype = detail::safetensors_dtype(dtype_name);
            if (!dtype)
                throw Error("unsupported dtype " + detail::one_line(dtype_name) + " (GRETA reads F32, F16 and BF16)", ctx);

            const auto shape_it = entry.find("shape");
            if (shape_it == entry.end() || !shape_it->is_array()) throw Error("tensor entry has no \"shape\" array", ctx);
            if (shape_it->size() > 4)
                throw Error("tensor has " + std::to_string(shape_it->size()) + " dimensions, at most 4 are supported", ctx);
            TensorView t;
            t.name = key;
            t.type = *dtype;
            t.n_dims = static_cast<std::uint32_t>(shape_it->size());
            std::uint64_t elements = 1;
            for (std::size_t d = 0; d < shape_it->size(); ++d) {
                const auto& dim = (*shape_it)[d];
                const auto dim_value = detail::json_uint(dim);
                if (!dim_value) throw Error("shape entries must be non-negative integers", ctx);
                const std::uint64_t v = *dim_value;
                if (v != 0 && elements > std::numeric_limits<std::uint64_t>::max() / 4 / v)
                    throw Error("tensor dimensions overflow", ctx);
                elements *= v;
                t.ne[shape_it->size() - 1 - d] = v;  // reverse: JSON shape is outermost-first
            }
            t.n_bytes = elements * dtype_info(*dtype).block_bytes;

            const auto off_it = entry.find("data_offsets");
            const bool pair = off_it != entry.end() && off_it->is_array() && off_it->size() == 2;
            const auto begin_off = pair ? detail::json_uint((*off_it)[0]) : std::nullopt;
            const auto end_off = pair ? detail::json_uint((*off_it)[1]) : std::nullopt;
            if (!begin_off || !end_off)
                throw Error("tensor entry needs \"data_offsets\": [begin, end] of non-negative integers", ctx);
            const std::uint64_t b = *begin_off, e = *end_off;
            if (b > e) throw Error("data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + "] are reversed", ctx);
            if (e > buffer_size)
                throw Error("data_offsets end " + std::to_string(e) + " is past the end of the " +
                                std::to_string(buffer_size) + "-byte data buffer (truncated file?)",
                            {name, data_offset_ + b, key});
            if (e - b != t.n_bytes)
                throw Error("data_offsets span " + std::to_string(e - b) + " bytes, the shape and dtype need " +
                                std::to_string(t.n_bytes),
                            {name, data_offset_ + b, key});
            t.data = file_->data() + data_offset_ + b;
            spans.push_back({b, e, tensors_.size()});
            tensors_.push_back(std::move(t));
        }

        std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) { return x.begin < y.begin; });
        for (std::size_t i = 1; i < spans.size(); ++i)
            if (spans[i].begin < spans[i - 1].end)
                throw Error("tensor data overlaps that of '" + tensors_[spans[i - 1].index].name + "'",
                            {name, data_offset_ + spans[i].begin, tensors_[spans[i].index].name});

        // File order, and element-aligned data: the header length need not be a multiple of 8,
        // and typed loads from a misaligned address are undefined behaviour.
        std::vector<TensorView> ordered;
        ordered.reserve(tensors_.size());
        for (const auto& s : spans) {
            TensorView t = std::move(tensors_[s.index]);
            const std::size_t elem = dtype_info(t.type).block_bytes;
            if (t.n_bytes && reinterpret_cast<std::uintptr_t>(t.data) % elem != 0) {
                auto copy = std::make_shared<std::vector<std::byte>>(t.data, t.data + t.n_bytes);
                t.data = copy->data();
                copies_.push_back(std::move(copy));
            }
            ordered.push_back(std::move(t));
        }
        tensors_ = std::move(ordered);
    }

    std::shared_ptr<const MappedFile> file_;
    std::uint64_t data_offset_ = 0;
    std::vector<TensorView> tensors_;
    std::vector<std::pair<std::string, std::string>> metadata_;
    std::vector<std::shared_ptr<std::vector<std::byte>>> copies_;
};

}  // namespace greta::io
