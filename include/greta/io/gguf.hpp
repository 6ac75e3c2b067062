#pragma once
/// @file GgufFile: a validated GGUF (v2/v3) file, its metadata and typed views of its tensors.
///
/// Layout (little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv, then n_kv x
/// {string key, u32 type, value}, then n_tensors x {string name, u32 n_dims, u64 ne[n_dims],
/// u32 type, u64 offset}, padding to `general.alignment` (default 32), then the data section.
/// Strings are u64 length + bytes; arrays are u32 element type + u64 count + elements.
///
/// Every length read from the file is checked against the bytes that remain *before* anything
/// is allocated, so no byte sequence can make the parser crash, hang or allocate more than a
/// small multiple of the input size.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <greta/core/dtype.hpp>
#include <greta/core/error.hpp>
#include <greta/core/tensor_view.hpp>
#include <greta/io/gguf_value.hpp>
#include <greta/io/mmap.hpp>

namespace greta::io {

inline constexpr std::uint32_t gguf_magic = 0x46554747u;  ///< "GGUF" read as a little-endian u32
inline constexpr std::uint64_t gguf_default_alignment = 32;
inline constexpr std::uint32_t gguf_max_dims = 4;
/// Nested arrays deeper than this are rejected: recursion depth must not follow the input.
inline constexpr int gguf_max_array_depth = 8;
/// Most elements reserved up front for a count read from the file. A count is only known to
/// fit the bytes that remain, and in a multi-GiB model file a corrupted one then asked for
/// tens of GiB at once (std::bad_alloc, without the file's name: regression test in
/// tests/reliability). Beyond this, vectors grow with the entries actually read.
inline constexpr std::uint64_t gguf_max_reserve = 1u << 16;

namespace detail {

/// Bounds-checked little-endian reader over the file bytes; every failure names the file,
/// the offset and the key or tensor being read.
class GgufCursor {
public:
    GgufCursor(const std::byte* data, std::uint64_t size, const std::string& file)
        : data_(data), size_(size), file_(file) {}

    std::uint64_t pos() const noexcept { return pos_; }
    std::uint64_t remaining() const noexcept { return size_ - pos_; }
    void set_context(std::string what) { context_ = std::move(what); }

    [[noreturn]] void fail(const std::string& message, std::uint64_t at) const {
        throw Error(message, {file_, at, context_});
    }

    void need(std::uint64_t n, std::string_view what) const {
        if (n > remaining())
            fail("truncated file: " + std::string(what) + " needs " + std::to_string(n) + " bytes, only " +
                     std::to_string(remaining()) + " remain",
                 pos_);
    }

    template <class T>
    T read(std::string_view what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    std::vector<std::byte> read_bytes(std::uint64_t n, std::string_view what) {
        need(n, what);
        std::vector<std::byte> out(data_ + pos_, data_ + pos_ + n);
        pos_ += n;
        return out;
    }

    std::string read_string(std::string_view what) {
        const std::uint64_t at = pos_;
        const auto n = read<std::uint64_t>(what);
        if (n > remaining())
            fail(std::string(what) + " length " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) +
                     " bytes remaining in the file (truncated or corrupt)",
                 at);
        std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(n));
        pos_ += n;
        return s;
    }

private:
    const std::byte* data_;
    std::uint64_t size_;
    std::uint64_t pos_ = 0;
    const std::string& file_;
    std::string context_;
};

/// Smallest number of bytes one array element of type t occupies in a file.
constexpr std::uint64_t gguf_min_element_bytes(GgufType t) {
    if (t == GgufType::String) return 8;       // u64 length
    if (t == GgufType::Array) return 4 + 8;    // element type + count
    return gguf_scalar_size(t);
}

inline GgufType read_gguf_type(GgufCursor& in, std::string_view what) {
    const std::uint64_t at = in.pos();
    const auto id = in.read<std::uint32_t>(what);
    if (id >= gguf_type_count) in.fail("unknown metadata value type " + std::to_string(id), at);
    return static_cast<GgufType>(id);
}

inline GgufValue read_gguf_value(GgufCursor& in, GgufType type, int depth);

inline GgufValue read_gguf_array(GgufCursor& in, int depth) {
    const std::uint64_t at = in.pos();
    if (depth >= gguf_max_array_depth)
        in.fail("arrays nested deeper than " + std::to_string(gguf_max_array_depth) + " levels", at);
    const GgufType elem = read_gguf_type(in, "array element type");
    const std::uint64_t count_at = in.pos();
    const auto count = in.read<std::uint64_t>("array length");
    const std::uint64_t min_bytes = gguf_min_element_bytes(elem);
    if (count > in.remaining() / min_bytes)
        in.fail("array length " + std::to_string(count) + " of " + std::string(gguf_type_name(elem)) +
                    " cannot fit in the " + std::to_string(in.remaining()) + " bytes remaining in the file (truncated or corrupt)",
                count_at);
    if (elem == GgufType::String) {
        std::vector<std::string> strings;
        strings.reserve(static_cast<std::size_t>(std::min(count, gguf_max_reserve)));
        for (std::uint64_t i = 0; i < count; ++i) strings.push_back(in.read_string("array string"));
        return GgufValue::string_array(std::move(strings));
    }
    if (elem == GgufType::Array) {
        std::vector<GgufValue> arrays;
        arrays.reserve(static_cast<std::size_t>(std::min(count, gguf_max_reserve)));
        for (std::uint64_t i = 0; i < count; ++i) arrays.push_back(read_gguf_array(in, depth + 1));
        return GgufValue::array_of_arrays(std::move(arrays));
    }
    auto payload = in.read_bytes(count * min_bytes, "array data");
    return GgufValue::numeric_array(elem, count, std::move(payload));
}

inline GgufValue read_gguf_value(GgufCursor& in, GgufType type, int depth) {
    if (type == GgufType::String) return GgufValue::string(in.read_string("string value"));
    if (type == GgufType::Array) return read_gguf_array(in, depth);
    switch (gguf_scalar_size(type)) {
        case 1: return GgufValue::scalar_bits(type, in.read<std::uint8_t>(gguf_type_name(type)));
        case 2: return GgufValue::scalar_bits(type, in.read<std::uint16_t>(gguf_type_name(type)));
        case 4: return GgufValue::scalar_bits(type, in.read<std::uint32_t>(gguf_type_name(type)));
        default: return GgufValue::scalar_bits(type, in.read<std::uint64_t>(gguf_type_name(type)));
    }
}

/// a * b, or nullopt on overflow.
constexpr std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) {
    if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::nullopt;
    return a * b;
}

}  // namespace detail

/// A parsed GGUF file. The metadata is copied out; tensor views point into the mapped bytes,
/// which the GgufFile keeps alive.
class GgufFile {
public:
    /// Maps and parses `path`. Throws greta::Error naming the file and the problem.
    static std::shared_ptr<const GgufFile> open(const std::filesystem::path& path) {
        return parse(MappedFile::open(path));
    }

    /// Parses bytes already mapped or held in memory (MappedFile::from_bytes): the entry point
    /// for fuzzing. Throws greta::Error on any malformed input, never anything else but
    /// std::bad_alloc.
    static std::shared_ptr<const GgufFile> parse(std::shared_ptr<const MappedFile> file) {
        ensure(file != nullptr, "GgufFile::parse needs a file");
        auto g = std::shared_ptr<GgufFile>(new GgufFile());
        g->file_ = std::move(file);
        g->parse_all();
        return g;
    }

    /// Convenience for tests and fuzzers: parses a copy of `bytes`, named `name` in errors.
    static std::shared_ptr<const GgufFile> parse_bytes(std::span<const std::byte> bytes, std::string name) {
        return parse(MappedFile::from_bytes(std::vector<std::byte>(bytes.begin(), bytes.end()), std::move(name)));
    }

    const std::string& path() const noexcept { return file_->path(); }
    std::uint32_t version() const noexcept { return version_; }
    std::uint64_t alignment() const noexcept { return alignment_; }
    /// File offset where the (aligned) data section starts; tensor offsets are relative to it.
    std::uint64_t data_offset() const noexcept { return data_offset_; }
    const MappedFile& file() const noexcept { return *file_; }
    std::shared_ptr<const MappedFile> mapped_file() const noexcept { return file_; }

    /// Metadata in file order.
    const std::vector<std::pair<std::string, GgufValue>>& metadata() const noexcept { return metadata_; }
    const GgufValue* find(std::string_view key) const {
        const auto it = key_index_.find(key);
        return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
    }

    /// Typed getters: nullopt (or empty) when the key is absent; a greta::Error naming the key
    /// when it is present with a type that cannot convert (a string where a number belongs, a
    /// negative count). Silently ignoring a mistyped key would hide a broken file.
    std::optional<std::uint64_t> get_uint(std::string_view key) const {
        const GgufValue* v = find(key);
        if (!v) return std::nullopt;
        if (auto u = v->as_uint()) return u;
        type_error(key, *v, "a non-negative integer");
    }
    std::optional<double> get_float(std::string_view key) const {
        const GgufValue* v = find(key);
        if (!v) return std::nullopt;
        if (auto f = v->as_float()) return f;
        type_error(key, *v, "a number");
    }
    std::optional<std::string> get_string(std::string_view key) const {
        const GgufValue* v = find(key);
        if (!v) return std::nullopt;
        if (const auto* s = v->as_string()) return *s;
        type_error(key, *v, "a string");
    }
    std::optional<bool> get_bool(std::string_view key) const {
        const GgufValue* v = find(key);
        if (!v) return std::nullopt;
        if (auto b = v->as_bool()) return b;
        type_error(key, *v, "a bool");
    }
    std::vector<std::string> get_string_array(std::string_view key) const {
        const GgufValue* v = find(key);
        if (!v) return {};
        if (!v->is_array() || v->array_type() != GgufType::String) type_error(key, *v, "an array of strings");
        return v->strings();
    }
    std::vector<float> get_float_array(std::string_view key) const {
        const GgufValue* v = find(key);
        if (!v) return {};
        if (!v->is_array() || !(gguf_is_float(v->array_type()) || gguf_is_integer(v->array_type())))
            type_error(key, *v, "an array of numbers");
        std::vector<float> out(static_cast<std::size_t>(v->size()));
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(*v->float_at(i));
        return out;
    }
    std::vector<std::int64_t> get_int_array(std::string_view key) const {
        const GgufValue* v = find(key);
        if (!v) return {};
        if (!v->is_array() || !gguf_is_integer(v->array_type())) type_error(key, *v, "an array of integers");
        std::vector<std::int64_t> out(static_cast<std::size_t>(v->size()));
        for (std::size_t i = 0; i < out.size(); ++i) {
            const auto x = v->int_at(i);
            if (!x) throw Error("array element " + std::to_string(i) + " does not fit in int64", {path(), key_offset(key), std::string(key)});
            out[i] = *x;
        }
        return out;
    }

    /// Tensors in file order, GGUF names and dimension order (ne[0] contiguous).
    const std::vector<TensorView>& tensors() const noexcept { return tensors_; }
    const TensorView* find_tensor(std::string_view name) const {
        const auto it = tensor_index_.find(name);
        return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
    }
    /// File offset of the first byte of a tensor's data.
    std::uint64_t tensor_file_offset(const TensorView& t) const {
        return static_cast<std::uint64_t>(t.data - file_->data());
    }

    /// File offset where a metadata key's entry starts (for error messages).
    std::optional<std::uint64_t> key_offset(std::string_view key) const {
        const auto it = key_index_.find(key);
        if (it == key_index_.end()) return std::nullopt;
        return key_offsets_[it->second];
    }

private:
    GgufFile() = default;

    [[noreturn]] void type_error(std::string_view key, const GgufValue& v, const char* expected) const {
        std::string got(gguf_type_name(v.type()));
        if (v.is_array()) got = "array of " + std::string(gguf_type_name(v.array_type()));
        else if (gguf_is_integer(v.type()) || gguf_is_float(v.type())) got += " " + v.to_string();
        throw Error("metadata key holds " + got + ", expected " + expected, {path(), key_offset(key), std::string(key)});
    }

    void parse_all() {
        const std::string& name = file_->path();
        detail::GgufCursor in(file_->data(), file_->size(), name);

        const auto magic = in.read<std::uint32_t>("magic");
        if (magic != gguf_magic) {
            char hex[16];
            std::snprintf(hex, sizeof hex, "0x%08x", magic);
            in.fail(std::string("bad magic ") + hex + ", not a GGUF file (expected \"GGUF\")", 0);
        }
        version_ = in.read<std::uint32_t>("version");
        if (version_ == 1)
            in.fail("unsupported GGUF version 1 (its 32-bit counts were replaced in version 2; GRETA reads versions 2 and 3)", 4);
        if (version_ != 2 && version_ != 3) {
            const bool swapped = version_ == 0x02000000u || version_ == 0x03000000u;
            in.fail("unsupported GGUF version " + std::to_string(version_) +
                        (swapped ? " (a big-endian GGUF?)" : "") + "; GRETA reads versions 2 and 3",
                    4);
        }
        const std::uint64_t counts_at = in.pos();
        const auto n_tensors = in.read<std::uint64_t>("tensor count");
        const auto n_kv = in.read<std::uint64_t>("metadata count");
        // Lower bounds on the bytes each entry needs: a key/tensor name length, a type id, and
        // at least one value byte / four dimensions-or-offset fields.
        constexpr std::uint64_t min_kv_bytes = 8 + 4 + 1, min_tensor_bytes = 8 + 4 + 8 + 4 + 8;
        if (n_kv > in.remaining() / min_kv_bytes)
            in.fail("metadata count " + std::to_string(n_kv) + " cannot fit in the " +
                        std::to_string(in.remaining()) + " bytes remaining in the file (truncated or corrupt)",
                    counts_at + 8);
        if (n_tensors > in.remaining() / min_tensor_bytes)
            in.fail("tensor count " + std::to_string(n_tensors) + " cannot fit in the " +
                        std::to_string(in.remaining()) + " bytes remaining in the file (truncated or corrupt)",
                    counts_at);

        metadata_.reserve(static_cast<std::size_t>(std::min(n_kv, gguf_max_reserve)));
        key_offsets_.reserve(static_cast<std::size_t>(std::min(n_kv, gguf_max_reserve)));
        for (std::uint64_t i = 0; i < n_kv; ++i) {
            const std::uint64_t at = in.pos();
            in.set_context("metadata entry " + std::to_string(i));
            std::string key = in.read_string("metadata key");
            in.set_context(key);
            if (key_index_.count(key)) in.fail("duplicate metadata key", at);
            const GgufType type = detail::read_gguf_type(in, "metadata value type");
            GgufValue value = detail::read_gguf_value(in, type, 0);
            key_index_.emplace(key, metadata_.size());
            key_offsets_.push_back(at);
            metadata_.emplace_back(std::move(key), std::move(value));
        }

        alignment_ = gguf_default_alignment;
        if (const GgufValue* a = find("general.alignment")) {
            const auto v = a->as_uint();
            if (!v || *v == 0 || (*v & (*v - 1)) != 0)
                throw Error("general.alignment must be a nonzero power of two, got " + a->to_string(),
                            {name, key_offset("general.alignment"), "general.alignment"});
            alignment_ = *v;
        }

        // Tensor infos; offsets are validated once the data section's start is known.
        std::vector<std::uint64_t> offsets, info_offsets;
        tensors_.reserve(static_cast<std::size_t>(std::min(n_tensors, gguf_max_reserve)));
        for (std::uint64_t i = 0; i < n_tensors; ++i) {
            const std::uint64_t at = in.pos();
            in.set_context("tensor " + std::to_string(i));
            TensorView t;
            t.name = in.read_string("tensor name");
            in.set_context(t.name);
            if (tensor_index_.count(t.name)) in.fail("duplicate tensor name", at);
            const std::uint64_t dims_at = in.pos();
            t.n_dims = in.read<std::uint32_t>("tensor dimension count");
            if (t.n_dims == 0 || t.n_dims > gguf_max_dims)
                in.fail("tensor has " + std::to_string(t.n_dims) + " dimensions, expected 1 to " +
                            std::to_string(gguf_max_dims),
                        dims_at);
            std::uint64_t n_elements = 1;
            for (std::uint32_t d = 0; d < t.n_dims; ++d) {
                const std::uint64_t ne_at = in.pos();
                t.ne[d] = in.read<std::uint64_t>("tensor dimension");
                // GGML holds dimensions and element counts in int64.
                const auto product = detail::checked_mul(n_elements, t.ne[d]);
                if (t.ne[d] > std::uint64_t(std::numeric_limits<std::int64_t>::max()) || !product ||
                    *product > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
                    in.fail("tensor dimensions overflow: dimension " + std::to_string(d) + " is " +
                                std::to_string(t.ne[d]) + " after " + std::to_string(n_elements) + " elements",
                            ne_at);
                n_elements = *product;
            }
            const std::uint64_t type_at = in.pos();
            const auto type_id = in.read<std::uint32_t>("tensor type");
            const auto info = dtype_info(type_id);
            if (!info) in.fail("unknown tensor type id " + std::to_string(type_id), type_at);
            t.type = static_cast<DType>(type_id);
            if (t.ne[0] % info->block_values != 0)
                in.fail("row length " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                            std::string(info->name) + " block size " + std::to_string(info->block_values),
                        dims_at);
            const auto bytes = detail::checked_mul(t.ne[0] / info->block_values, info->block_bytes);
            const auto total = bytes ? detail::checked_mul(*bytes, t.ne[1] * t.ne[2] * t.ne[3]) : std::nullopt;
            if (!total) in.fail("tensor byte size overflows", dims_at);
            t.n_bytes = *total;
            offsets.push_back(in.read<std::uint64_t>("tensor data offset"));
            info_offsets.push_back(in.pos() - 8);
            tensor_index_.emplace(t.name, tensors_.size());
            tensors_.push_back(std::move(t));
        }

        // The data section starts at the next multiple of the alignment.
        in.set_context("");
        const std::uint64_t header_end = in.pos();
        const std::uint64_t pad = (alignment_ - header_end % alignment_) % alignment_;
        data_offset_ = header_end + pad;  // cannot overflow: header_end <= size, pad < alignment <= 2^63
        const std::uint64_t size = file_->size();
        for (std::size_t i = 0; i < tensors_.size(); ++i) {
            TensorView& t = tensors_[i];
            const std::uint64_t off = offsets[i];
            const ErrorContext ctx{name, info_offsets[i], t.name};
            if (off % alignment_ != 0)
                throw Error("tensor data offset " + std::to_string(off) + " is not a multiple of the alignment " +
                                std::to_string(alignment_),
                            ctx);
            const std::uint64_t data_size = data_offset_ <= size ? size - data_offset_ : 0;
            if (data_offset_ > size || off > data_size || t.n_bytes > data_size - off)
                throw Error("tensor data [" + std::to_string(off) + ", +" + std::to_string(t.n_bytes) +
                                ") relative to the data section at " + std::to_string(data_offset_) +
                                " extends past the end of the file (size " + std::to_string(size) +
                                "; truncated file?)",
                            ctx);
            t.data = file_->data() + data_offset_ + off;
        }
    }

    std::shared_ptr<const MappedFile> file_;
    std::uint32_t version_ = 0;
    std::uint64_t alignment_ = gguf_default_alignment;
    std::uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, GgufValue>> metadata_;
    std::vector<std::uint64_t> key_offsets_;
    std::map<std::string, std::size_t, std::less<>> key_index_;
    std::vector<TensorView> tensors_;
    std::map<std::string, std::size_t, std::less<>> tensor_index_;
};

}  // namespace greta::io
