#pragma once
/// @file GgufValue: one GGUF metadata value of any type, including (nested) arrays.

#include <bit>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <greta/core/error.hpp>

namespace greta::io {

static_assert(std::endian::native == std::endian::little,
              "GGUF, SafeTensors and llama2.c files are little-endian; GRETA reads them in place");

/// GGUF metadata value type ids, as stored in the file.
enum class GgufType : std::uint32_t { U8, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64 };

/// Number of GGUF value types; ids at or above it are invalid.
inline constexpr std::uint32_t gguf_type_count = 13;

constexpr std::string_view gguf_type_name(GgufType t) {
    constexpr std::string_view names[gguf_type_count] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                                         "bool", "string", "array", "u64", "i64", "f64"};
    const auto i = static_cast<std::uint32_t>(t);
    return i < gguf_type_count ? names[i] : std::string_view("invalid");
}

/// Bytes of one scalar of type t in a file; 0 for string and array (variable length).
constexpr std::size_t gguf_scalar_size(GgufType t) {
    switch (t) {
        case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
        case GgufType::U16: case GgufType::I16: return 2;
        case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
        case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
        default: return 0;
    }
}

constexpr bool gguf_is_integer(GgufType t) {
    return t == GgufType::U8 || t == GgufType::I8 || t == GgufType::U16 || t == GgufType::I16 ||
           t == GgufType::U32 || t == GgufType::I32 || t == GgufType::U64 || t == GgufType::I64;
}
constexpr bool gguf_is_signed(GgufType t) {
    return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
}
constexpr bool gguf_is_float(GgufType t) { return t == GgufType::F32 || t == GgufType::F64; }

/// The GGUF type of a C++ scalar type (for building values).
template <class T> struct gguf_type_of;
template <> struct gguf_type_of<std::uint8_t> { static constexpr GgufType value = GgufType::U8; };
template <> struct gguf_type_of<std::int8_t> { static constexpr GgufType value = GgufType::I8; };
template <> struct gguf_type_of<std::uint16_t> { static constexpr GgufType value = GgufType::U16; };
template <> struct gguf_type_of<std::int16_t> { static constexpr GgufType value = GgufType::I16; };
template <> struct gguf_type_of<std::uint32_t> { static constexpr GgufType value = GgufType::U32; };
template <> struct gguf_type_of<std::int32_t> { static constexpr GgufType value = GgufType::I32; };
template <> struct gguf_type_of<float> { static constexpr GgufType value = GgufType::F32; };
template <> struct gguf_type_of<bool> { static constexpr GgufType value = GgufType::Bool; };
template <> struct gguf_type_of<std::uint64_t> { static constexpr GgufType value = GgufType::U64; };
template <> struct gguf_type_of<std::int64_t> { static constexpr GgufType value = GgufType::I64; };
template <> struct gguf_type_of<double> { static constexpr GgufType value = GgufType::F64; };

template <class T>
concept GgufScalar = requires { gguf_type_of<T>::value; };

/// A GGUF metadata value: a scalar, a string, or an array of scalars, strings or arrays.
/// Numeric arrays keep their packed little-endian payload (a 32000-entry score table is one
/// allocation, not 32000 values).
class GgufValue {
public:
    GgufValue() = default;

    // ---- construction -------------------------------------------------------------------
    template <GgufScalar T>
    static GgufValue scalar(T v) {
        GgufValue out;
        out.type_ = gguf_type_of<T>::value;
        if constexpr (std::is_same_v<T, bool>) {
            out.bits_ = v ? 1u : 0u;
        } else {
            std::memcpy(&out.bits_, &v, sizeof(T));
        }
        return out;
    }
    /// A scalar from its little-endian bits (the low gguf_scalar_size(t) bytes of `bits`).
    static GgufValue scalar_bits(GgufType t, std::uint64_t bits) {
        ensure(gguf_scalar_size(t) != 0, "scalar_bits needs a scalar type");
        GgufValue out;
        out.type_ = t;
        const std::size_t n = gguf_scalar_size(t);
        out.bits_ = n == 8 ? bits : bits & ((std::uint64_t(1) << (8 * n)) - 1);
        return out;
    }
    static GgufValue string(std::string s) {
        GgufValue out;
        out.type_ = GgufType::String;
        out.str_ = std::move(s);
        return out;
    }
    template <GgufScalar T>
    static GgufValue array(std::span<const T> values) {
        std::vector<std::byte> payload(values.size() * gguf_scalar_size(gguf_type_of<T>::value));
        if constexpr (std::is_same_v<T, bool>) {
            for (std::size_t i = 0; i < values.size(); ++i) payload[i] = std::byte(values[i] ? 1 : 0);
        } else if (!values.empty()) {
            std::memcpy(payload.data(), values.data(), payload.size());
        }
        return numeric_array(gguf_type_of<T>::value, values.size(), std::move(payload));
    }
    /// A numeric (or bool) array from its packed little-endian payload.
    static GgufValue numeric_array(GgufType elem, std::uint64_t count, std::vector<std::byte> payload) {
        ensure(gguf_scalar_size(elem) != 0 && payload.size() == count * gguf_scalar_size(elem),
               "numeric_array payload size must be count * element size");
        GgufValue out;
        out.type_ = GgufType::Array;
        out.elem_ = elem;
        out.count_ = count;
        out.raw_ = std::move(payload);
        return out;
    }
    static GgufValue string_array(std::vector<std::string> strings) {
        GgufValue out;
        out.type_ = GgufType::Array;
        out.elem_ = GgufType::String;
        out.count_ = strings.size();
        out.strings_ = std::move(strings);
        return out;
    }
    /// An array whose elements are arrays (each may hold its own element type).
    static GgufValue array_of_arrays(std::vector<GgufValue> arrays) {
        for (const auto& a : arrays) ensure(a.is_array(), "array_of_arrays elements must be arrays");
        GgufValue out;
        out.type_ = GgufType::Array;
        out.elem_ = GgufType::Array;
        out.count_ = arrays.size();
        out.arrays_ = std::move(arrays);
        return out;
    }

    // ---- inspection ---------------------------------------------------------------------
    GgufType type() const noexcept { return type_; }
    bool is_array() const noexcept { return type_ == GgufType::Array; }
    /// Element type of an array (meaningless for non-arrays).
    GgufType array_type() const noexcept { return elem_; }
    /// Element count of an array; 1 for a scalar or string.
    std::uint64_t size() const noexcept { return is_array() ? count_ : 1; }

    /// The value if it is an integer scalar >= 0 (of any width or signedness).
    std::optional<std::uint64_t> as_uint() const { return is_array() ? std::nullopt : uint_of(type_, bits_); }
    /// The value if it is an integer scalar representable as int64.
    std::optional<std::int64_t> as_int() const { return is_array() ? std::nullopt : int_of(type_, bits_); }
    /// The value if it is a numeric scalar (integer or float).
    std::optional<double> as_float() const { return is_array() ? std::nullopt : float_of(type_, bits_); }
    std::optional<bool> as_bool() const {
        if (type_ != GgufType::Bool) return std::nullopt;
        return bits_ != 0;
    }
    /// The string, or nullptr when the value is not a string.
    const std::string* as_string() const noexcept { return type_ == GgufType::String ? &str_ : nullptr; }

    /// Element i of a numeric array as the as_uint/as_int/as_float conversions would give it.
    std::optional<std::uint64_t> uint_at(std::uint64_t i) const { return numeric_at(i, uint_of); }
    std::optional<std::int64_t> int_at(std::uint64_t i) const { return numeric_at(i, int_of); }
    std::optional<double> float_at(std::uint64_t i) const { return numeric_at(i, float_of); }
    /// Elements of a string array (empty for any other value).
    const std::vector<std::string>& strings() const noexcept { return strings_; }
    /// Elements of an array of arrays (empty for any other value).
    const std::vector<GgufValue>& arrays() const noexcept { return arrays_; }
    /// Packed little-endian payload of a numeric or bool array.
    std::span<const std::byte> raw() const noexcept { return raw_; }

    /// One-line printable form; arrays show their type, length and first `max_elements` items.
    std::string to_string(std::size_t max_elements = 8) const {
        if (type_ == GgufType::String) return escape(str_);
        if (!is_array()) return scalar_to_string(type_, bits_);
        std::string s = "[" + std::to_string(count_) + " x " + std::string(gguf_type_name(elem_)) + "]";
        const std::uint64_t shown = count_ < max_elements ? count_ : max_elements;
        for (std::uint64_t i = 0; i < shown; ++i) {
            s += i == 0 ? " " : ", ";
            if (elem_ == GgufType::String) s += "\"" + escape(strings_[i]) + "\"";
            else if (elem_ == GgufType::Array) s += arrays_[i].to_string(max_elements);
            else s += scalar_to_string(elem_, element_bits(i));
        }
        if (shown < count_) s += ", ...";
        return s;
    }

    /// Same type and contents (for round-trip tests).
    friend bool operator==(const GgufValue& a, const GgufValue& b) {
        return a.type_ == b.type_ && a.elem_ == b.elem_ && a.bits_ == b.bits_ && a.str_ == b.str_ &&
               a.count_ == b.count_ && a.raw_ == b.raw_ && a.strings_ == b.strings_ && a.arrays_ == b.arrays_;
    }

    /// Bytes this value occupies in a GGUF file (type id not included).
    std::uint64_t serialized_size() const {
        if (type_ == GgufType::String) return 8 + str_.size();
        if (!is_array()) return gguf_scalar_size(type_);
        std::uint64_t n = 4 + 8 + raw_.size();
        for (const auto& s : strings_) n += 8 + s.size();
        for (const auto& a : arrays_) n += a.serialized_size();  // elements carry no type id of their own
        return n;
    }

    /// Appends the value's payload (without its type id) in GGUF encoding.
    void serialize(std::vector<std::byte>& out) const {
        auto put = [&out](const void* p, std::size_t n) {
            const auto* b = static_cast<const std::byte*>(p);
            out.insert(out.end(), b, b + n);
        };
        auto put_string = [&](const std::string& s) {
            const std::uint64_t n = s.size();
            put(&n, 8);
            put(s.data(), s.size());
        };
        if (type_ == GgufType::String) return put_string(str_);
        if (!is_array()) return put(&bits_, gguf_scalar_size(type_));
        const auto elem = static_cast<std::uint32_t>(elem_);
        put(&elem, 4);
        put(&count_, 8);
        if (!raw_.empty()) put(raw_.data(), raw_.size());
        for (const auto& s : strings_) put_string(s);
        for (const auto& a : arrays_) a.serialize(out);  // the outer array's type id covers them
    }

private:
    std::uint64_t element_bits(std::uint64_t i) const {
        std::uint64_t bits = 0;
        const std::size_t n = gguf_scalar_size(elem_);
        std::memcpy(&bits, raw_.data() + i * n, n);
        return bits;
    }
    template <class F>
    auto numeric_at(std::uint64_t i, F convert) const -> decltype(convert(GgufType::U8, 0)) {
        if (!is_array() || gguf_scalar_size(elem_) == 0 || i >= count_) return std::nullopt;
        return convert(elem_, element_bits(i));
    }
    static std::int64_t sign_extend(GgufType t, std::uint64_t bits) {
        switch (t) {
            case GgufType::I8: return static_cast<std::int8_t>(bits);
            case GgufType::I16: return static_cast<std::int16_t>(bits);
            case GgufType::I32: return static_cast<std::int32_t>(bits);
            default: return static_cast<std::int64_t>(bits);
        }
    }
    static std::optional<std::uint64_t> uint_of(GgufType t, std::uint64_t bits) {
        if (!gguf_is_integer(t)) return std::nullopt;
        if (!gguf_is_signed(t)) return bits;
        const std::int64_t v = sign_extend(t, bits);
        if (v < 0) return std::nullopt;
        return static_cast<std::uint64_t>(v);
    }
    static std::optional<std::int64_t> int_of(GgufType t, std::uint64_t bits) {
        if (!gguf_is_integer(t)) return std::nullopt;
        if (gguf_is_signed(t)) return sign_extend(t, bits);
        if (bits > std::uint64_t(INT64_MAX)) return std::nullopt;
        return static_cast<std::int64_t>(bits);
    }
    static std::optional<double> float_of(GgufType t, std::uint64_t bits) {
        if (t == GgufType::F32) return std::bit_cast<float>(static_cast<std::uint32_t>(bits));
        if (t == GgufType::F64) return std::bit_cast<double>(bits);
        if (!gguf_is_integer(t)) return std::nullopt;
        if (gguf_is_signed(t)) return static_cast<double>(sign_extend(t, bits));
        return static_cast<double>(bits);
    }
    static std::string scalar_to_string(GgufType t, std::uint64_t bits) {
        if (t == GgufType::Bool) return bits ? "true" : "false";
        char buf[64];
        std::to_chars_result r{};
        if (t == GgufType::F32) r = std::to_chars(buf, buf + sizeof buf, std::bit_cast<float>(std::uint32_t(bits)));
        else if (t == GgufType::F64) r = std::to_chars(buf, buf + sizeof buf, std::bit_cast<double>(bits));
        else if (gguf_is_signed(t)) r = std::to_chars(buf, buf + sizeof buf, sign_extend(t, bits));
        else r = std::to_chars(buf, buf + sizeof buf, bits);
        return std::string(buf, r.ptr);
    }
    /// Control characters escaped so that printed metadata stays one line per key.
    static std::string escape(const std::string& s) {
        std::string out;
        out.reserve(s.size());
        for (const char c : s) {
            const auto u = static_cast<unsigned char>(c);
            if (c == '\n') out += "\\n";
            else if (c == '\t') out += "\\t";
            else if (c == '\r') out += "\\r";
            else if (u < 0x20 || u == 0x7F) {
                const char hex[] = "0123456789abcdef";
                out += "\\x";
                out += hex[u >> 4];
                out += hex[u & 15];
            } else out += c;
        }
        return out;
    }

    GgufType type_ = GgufType::U8;
    GgufType elem_ = GgufType::U8;
    std::uint64_t bits_ = 0;
    std::uint64_t count_ = 0;
    std::string str_;
    std::vector<std::byte> raw_;
    std::vector<std::string> strings_;
    std::vector<GgufValue> arrays_;
};

}  // namespace greta::io
