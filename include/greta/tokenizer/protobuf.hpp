#pragma once
/// @file Minimal protobuf wire format: a bounds-checked field reader and a writer, enough for
/// SentencePiece's ModelProto. Malformed input throws greta::Error; it never reads out of bounds.

#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include <greta/core/error.hpp>

namespace greta::tokenizer::protobuf {

/// Wire types (the low 3 bits of a field tag). Groups (3, 4) are deprecated and not accepted.
enum class WireType : std::uint8_t { Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5 };

/// One field as read from the wire. `offset` is where its tag starts, counted from the start of
/// the outermost buffer, so errors can point into the file.
struct Field {
    std::uint32_t number = 0;
    WireType wire = WireType::Varint;
    std::uint64_t offset = 0;
    std::uint64_t scalar = 0;      ///< varint value, or the raw bits of a fixed32/fixed64
    std::string_view bytes;        ///< payload of a length-delimited field
    std::uint64_t bytes_offset = 0;
};

/// Reads the fields of one message in order. Every length is checked against the bytes left.
class Reader {
public:
    /// `message` is the encoded message; `base_offset` its position in the file named `source`.
    Reader(std::string_view message, std::string source, std::uint64_t base_offset = 0)
        : data_(message), source_(std::move(source)), base_(base_offset) {}

    bool done() const { return pos_ >= data_.size(); }

    /// The next field; throws greta::Error on a truncated or malformed encoding.
    Field next() {
        Field f;
        f.offset = base_ + pos_;
        const std::uint64_t tag = read_varint("field tag");
        const auto wire = static_cast<std::uint8_t>(tag & 7);
        const std::uint64_t number = tag >> 3;
        if (number == 0 || number > 0x1FFFFFFF) fail("invalid field number " + std::to_string(number), f.offset);
        f.number = static_cast<std::uint32_t>(number);
        switch (wire) {
            case 0:
                f.wire = WireType::Varint;
                f.scalar = read_varint("varint value");
                break;
            case 1:
                f.wire = WireType::Fixed64;
                f.scalar = read_fixed(8);
                break;
            case 5:
                f.wire = WireType::Fixed32;
                f.scalar = read_fixed(4);
                break;
            case 2: {
                f.wire = WireType::LengthDelimited;
                const std::uint64_t length_at = base_ + pos_;
                const std::uint64_t length = read_varint("length");
                if (length > data_.size() - pos_)
                    fail("field " + std::to_string(f.number) + " claims " + std::to_string(length) +
                             " bytes but only " + std::to_string(data_.size() - pos_) + " remain",
                         length_at);
                f.bytes_offset = base_ + pos_;
                f.bytes = data_.substr(pos_, static_cast<std::size_t>(length));
                pos_ += static_cast<std::size_t>(length);
                break;
            }
            default:
                fail("unsupported wire type " + std::to_string(wire) + " for field " + std::to_string(f.number),
                     f.offset);
        }
        return f;
    }

    /// A reader over a length-delimited field's payload, for a nested message.
    Reader nested(const Field& f) const {
        expect(f, WireType::LengthDelimited, "message");
        return Reader(f.bytes, source_, f.bytes_offset);
    }

    // Typed accessors: each checks the wire type and names `what` (e.g. "pieces[7].score") on error.
    std::uint64_t as_uint(const Field& f, const std::string& what) const {
        expect(f, WireType::Varint, what);
        return f.scalar;
    }
    /// int32 / enum: negative values are sent as 64-bit two's complement varints.
    std::int32_t as_int32(const Field& f, const std::string& what) const {
        expect(f, WireType::Varint, what);
        const auto v = static_cast<std::int64_t>(f.scalar);
        if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max()) fail(what + " value " + std::to_string(v) + " does not fit int32", f.offset);
        return static_cast<std::int32_t>(v);
    }
    bool as_bool(const Field& f, const std::string& what) const { return as_uint(f, what) != 0; }
    float as_float(const Field& f, const std::string& what) const {
        expect(f, WireType::Fixed32, what);
        return std::bit_cast<float>(static_cast<std::uint32_t>(f.scalar));
    }
    std::string_view as_bytes(const Field& f, const std::string& what) const {
        expect(f, WireType::LengthDelimited, what);
        return f.bytes;
    }

    const std::string& source() const { return source_; }

    [[noreturn]] void fail(const std::string& message, std::uint64_t offset) const {
        throw Error("malformed protobuf: " + message, ErrorContext{source_, offset, {}});
    }

private:
    void expect(const Field& f, WireType wire, const std::string& what) const {
        if (f.wire != wire)
            fail(what + " (field " + std::to_string(f.number) + ") has wire type " +
                     std::to_string(static_cast<int>(f.wire)) + ", expected " + std::to_string(static_cast<int>(wire)),
                 f.offset);
    }

    std::uint64_t read_varint(const char* what) {
        const std::uint64_t start = base_ + pos_;
        std::uint64_t value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= data_.size()) fail(std::string("truncated ") + what, start);
            const auto byte = static_cast<std::uint8_t>(data_[pos_++]);
            // The 10th byte may only carry the top bit of a 64-bit value.
            if (shift == 63 && byte > 1) fail(std::string(what) + " overflows 64 bits", start);
            value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
            if ((byte & 0x80) == 0) return value;
        }
        fail(std::string(what) + " is longer than 10 bytes", start);
    }

    std::uint64_t read_fixed(std::size_t n) {
        if (data_.size() - pos_ < n) fail("truncated fixed" + std::to_string(n * 8) + " value", base_ + pos_);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(data_[pos_ + i])) << (8 * i);
        pos_ += n;
        return v;
    }

    std::string_view data_;
    std::string source_;
    std::uint64_t base_ = 0;
    std::size_t pos_ = 0;
};

/// Appends fields in wire format.
class Writer {
public:
    void add_uint(std::uint32_t field, std::uint64_t v) {
        tag(field, WireType::Varint);
        varint(v);
    }
    /// int32 / enum: negative values as 64-bit two's complement (what protobuf does).
    void add_int32(std::uint32_t field, std::int32_t v) { add_uint(field, static_cast<std::uint64_t>(static_cast<std::int64_t>(v))); }
    void add_bool(std::uint32_t field, bool v) { add_uint(field, v ? 1 : 0); }
    void add_float(std::uint32_t field, float v) {
        tag(field, WireType::Fixed32);
        const auto bits = std::bit_cast<std::uint32_t>(v);
        for (int i = 0; i < 4; ++i) out_ += static_cast<char>((bits >> (8 * i)) & 0xFF);
    }
    void add_bytes(std::uint32_t field, std::string_view v) {
        tag(field, WireType::LengthDelimited);
        varint(v.size());
        out_.append(v);
    }
    void add_message(std::uint32_t field, const Writer& message) { add_bytes(field, message.bytes()); }

    const std::string& bytes() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    void tag(std::uint32_t field, WireType wire) { varint((static_cast<std::uint64_t>(field) << 3) | static_cast<std::uint8_t>(wire)); }
    void varint(std::uint64_t v) {
        while (v >= 0x80) {
            out_ += static_cast<char>((v & 0x7F) | 0x80);
            v >>= 7;
        }
        out_ += static_cast<char>(v);
    }
    std::string out_;
};

}  // namespace greta::tokenizer::protobuf
