#pragma once
/// @file GgufWriter: writes GGUF v3 files (metadata of every type, aligned tensor data).
/// Tensor data is streamed to disk: it is borrowed, owned, or generated row-chunk by row-chunk,
/// so a multi-gigabyte synthetic model never sits in memory twice.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <greta/core/dtype.hpp>
#include <greta/core/error.hpp>
#include <greta/io/gguf.hpp>
#include <greta/io/gguf_value.hpp>

namespace greta::io {

class GgufWriter {
public:
    /// Produces `rows` (a whole number of rows, row_bytes each) starting at row `first_row`.
    using TensorFill = std::function<void(std::span<std::byte> rows, std::uint64_t first_row)>;

    /// `alignment` other than 32 is recorded as general.alignment (u32), as llama.cpp does.
    explicit GgufWriter(std::uint64_t alignment = gguf_default_alignment) : alignment_(alignment) {
        check(alignment != 0 && (alignment & (alignment - 1)) == 0 && alignment <= (1u << 30),
              [&] { return "GGUF alignment must be a power of two, got " + std::to_string(alignment); });
        if (alignment != gguf_default_alignment) add_uint32("general.alignment", static_cast<std::uint32_t>(alignment));
    }

    // ---- metadata -----------------------------------------------------------------------
    void add(std::string key, GgufValue value) {
        check(!key_index_.count(key), [] { return std::string("duplicate metadata key"); }, {{}, {}, key});
        key_index_.emplace(key, metadata_.size());
        metadata_.emplace_back(std::move(key), std::move(value));
    }
    template <GgufScalar T>
    void add_scalar(std::string key, T v) { add(std::move(key), GgufValue::scalar(v)); }
    void add_uint8(std::string key, std::uint8_t v) { add_scalar(std::move(key), v); }
    void add_int8(std::string key, std::int8_t v) { add_scalar(std::move(key), v); }
    void add_uint16(std::string key, std::uint16_t v) { add_scalar(std::move(key), v); }
    void add_int16(std::string key, std::int16_t v) { add_scalar(std::move(key), v); }
    void add_uint32(std::string key, std::uint32_t v) { add_scalar(std::move(key), v); }
    void add_int32(std::string key, std::int32_t v) { add_scalar(std::move(key), v); }
    void add_uint64(std::string key, std::uint64_t v) { add_scalar(std::move(key), v); }
    void add_int64(std::string key, std::int64_t v) { add_scalar(std::move(key), v); }
    void add_float32(std::string key, float v) { add_scalar(std::move(key), v); }
    void add_float64(std::string key, double v) { add_scalar(std::move(key), v); }
    void add_bool(std::string key, bool v) { add_scalar(std::move(key), v); }
    void add_string(std::string key, std::string v) { add(std::move(key), GgufValue::string(std::move(v))); }
    void add_string_array(std::string key, std::vector<std::string> v) {
        add(std::move(key), GgufValue::string_array(std::move(v)));
    }
    template <GgufScalar T>
    void add_array(std::string key, std::span<const T> v) { add(std::move(key), GgufValue::array(v)); }
    template <GgufScalar T>
    void add_array(std::string key, const std::vector<T>& v) { add_array(std::move(key), std::span<const T>(v)); }

    // ---- tensors ------------------------------------------------------------------------
    /// Borrows `data` (exactly the tensor's bytes); it must stay alive until write() returns.
    void add_tensor(std::string name, DType type, std::vector<std::uint64_t> ne, std::span<const std::byte> data) {
        Pending& t = add_info(std::move(name), type, std::move(ne));
        check(data.size() == t.n_bytes, [&] {
            return "tensor data has " + std::to_string(data.size()) + " bytes, its shape needs " + std::to_string(t.n_bytes);
        }, {{}, {}, t.name});
        t.borrowed = data;
    }
    /// Takes ownership of `data`.
    void add_tensor(std::string name, DType type, std::vector<std::uint64_t> ne, std::vector<std::byte> data) {
        auto owned = std::make_shared<std::vector<std::byte>>(std::move(data));
        add_tensor(std::move(name), type, std::move(ne), std::span<const std::byte>(*owned));
        pending_.back().owned = std::move(owned);
    }
    /// Data produced on demand while writing, in chunks of whole rows.
    void add_tensor(std::string name, DType type, std::vector<std::uint64_t> ne, TensorFill fill) {
        ensure(static_cast<bool>(fill), "add_tensor needs a fill function");
        add_info(std::move(name), type, std::move(ne)).fill = std::move(fill);
    }

    /// Header bytes (magic .. padding before the data section).
    std::vector<std::byte> header_bytes() const {
        std::vector<std::byte> out;
        auto put = [&out](const auto& v) {
            const auto* b = reinterpret_cast<const std::byte*>(&v);
            out.insert(out.end(), b, b + sizeof(v));
        };
        put(gguf_magic);
        put(std::uint32_t{3});
        put(static_cast<std::uint64_t>(pending_.size()));
        put(static_cast<std::uint64_t>(metadata_.size()));
        for (const auto& [key, value] : metadata_) {
            GgufValue::string(key).serialize(out);
            put(static_cast<std::uint32_t>(value.type()));
            value.serialize(out);
        }
        std::uint64_t offset = 0;
        for (const auto& t : pending_) {
            GgufValue::string(t.name).serialize(out);
            put(static_cast<std::uint32_t>(t.ne.size()));
            for (const auto d : t.ne) put(d);
            put(static_cast<std::uint32_t>(t.type));
            put(offset);
            offset = align(offset + t.n_bytes);
        }
        out.resize(static_cast<std::size_t>(align(out.size())), std::byte{0});
        return out;
    }

    /// Writes the file. Throws greta::Error naming `path` on any I/O failure.
    void write(const std::filesystem::path& path) const {
        const std::string name = path.string();
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        check(f.good(), [] { return std::string("cannot create file"); }, {name, {}, {}});
        emit([&](const std::byte* p, std::size_t n) {
            f.write(reinterpret_cast<const char*>(p), static_cast<std::streamsize>(n));
            check(f.good(), [] { return std::string("write failed (disk full?)"); }, {name, {}, {}});
        });
        f.close();
        check(!f.fail(), [] { return std::string("closing the file failed"); }, {name, {}, {}});
    }

    /// The whole file in memory (small files: tests, fuzz seeds).
    std::vector<std::byte> to_bytes() const {
        std::vector<std::byte> out;
        emit([&](const std::byte* p, std::size_t n) { out.insert(out.end(), p, p + n); });
        return out;
    }

private:
    struct Pending {
        std::string name;
        DType type;
        std::vector<std::uint64_t> ne;
        std::uint64_t n_bytes = 0;
        std::uint64_t row_bytes = 0;
        std::span<const std::byte> borrowed;
        std::shared_ptr<std::vector<std::byte>> owned;
        TensorFill fill;
    };

    std::uint64_t align(std::uint64_t n) const { return (n + alignment_ - 1) / alignment_ * alignment_; }

    Pending& add_info(std::string name, DType type, std::vector<std::uint64_t> ne) {
        const ErrorContext ctx{{}, {}, name};
        check(!tensor_names_.count(name), [] { return std::string("duplicate tensor name"); }, ctx);
        check(!ne.empty() && ne.size() <= gguf_max_dims,
              [&] { return "tensor needs 1 to 4 dimensions, got " + std::to_string(ne.size()); }, ctx);
        check(dtype_info(static_cast<std::uint32_t>(type)).has_value(), [] { return std::string("unknown tensor type"); }, ctx);
        const auto row = row_bytes(type, ne[0]);
        check(row.has_value(), [&] {
            return "row length " + std::to_string(ne[0]) + " is not a whole number of " + std::string(dtype_name(type)) + " blocks";
        }, ctx);
        std::uint64_t rows = 1;
        for (std::size_t d = 1; d < ne.size(); ++d) {
            const auto r = detail::checked_mul(rows, ne[d]);
            check(r.has_value(), [] { return std::string("tensor dimensions overflow"); }, ctx);
            rows = *r;
        }
        const auto bytes = detail::checked_mul(*row, rows);
        check(bytes.has_value(), [] { return std::string("tensor byte size overflows"); }, ctx);
        tensor_names_.emplace(name);
        Pending t;
        t.name = std::move(name);
        t.type = type;
        t.ne = std::move(ne);
        t.n_bytes = *bytes;
        t.row_bytes = *row;
        pending_.push_back(std::move(t));
        return pending_.back();
    }

    template <class Sink>
    void emit(Sink&& sink) const {
        const auto header = header_bytes();
        sink(header.data(), header.size());
        static const std::byte zeros[4096] = {};
        std::vector<std::byte> chunk;
        for (const auto& t : pending_) {
            if (t.fill) {
                // Whole rows per call, about 16 MiB at a time.
                const std::uint64_t rows_total = t.row_bytes ? t.n_bytes / t.row_bytes : 0;
                const std::uint64_t rows_per_chunk = std::max<std::uint64_t>(1, (std::uint64_t(16) << 20) / std::max<std::uint64_t>(1, t.row_bytes));
                for (std::uint64_t r = 0; r < rows_total; r += rows_per_chunk) {
                    const std::uint64_t n = std::min(rows_per_chunk, rows_total - r);
                    chunk.assign(static_cast<std::size_t>(n * t.row_bytes), std::byte{0});
                    t.fill(chunk, r);
                    sink(chunk.data(), chunk.size());
                }
            } else if (!t.borrowed.empty()) {
                sink(t.borrowed.data(), t.borrowed.size());
            }
            for (std::uint64_t pad = align(t.n_bytes) - t.n_bytes; pad > 0;) {
                const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(pad, sizeof zeros));
                sink(zeros, n);
                pad -= n;
            }
        }
    }

    std::uint64_t alignment_;
    std::vector<std::pair<std::string, GgufValue>> metadata_;
    std::map<std::string, std::size_t, std::less<>> key_index_;
    std::vector<Pending> pending_;
    std::set<std::string, std::less<>> tensor_names_;
};

}  // namespace greta::io
