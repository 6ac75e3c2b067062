// Damaged GGUF files: one test per damage class, a truncation sweep over a real file, and
// random mutations. Each must end in a one-line greta::Error naming the file and the problem.
#include <catch2/catch_test_macros.hpp>

#include <random>

#include <greta/io/gguf.hpp>
#include <greta/io/gguf_writer.hpp>

#include "io_test_util.hpp"
#include "shared_files.hpp"

using namespace greta;
using namespace greta::io;
using greta::test::Bytes;
using greta::test::poke;

namespace {
Bytes small() { return test::small_gguf_writer().to_bytes(); }

/// Writes `bytes` as scratch/NAME and opens it through the file path (the real entry point).
std::shared_ptr<const GgufFile> open_damaged(const std::string& name, const Bytes& bytes) {
    const auto path = test::scratch_dir() / name;
    test::write_file_bytes(path, bytes);
    return GgufFile::open(path);
}

/// Offset of a metadata entry's value type id (just after its key).
std::size_t value_type_at(const Bytes& b, std::string_view key) { return test::find_bytes(b, key) + key.size(); }
}  // namespace

TEST_CASE("the undamaged small GGUF is valid", "[io][gguf][damage]") {
    const auto g = open_damaged("valid.gguf", small());
    CHECK(g->alignment() == 64);
    CHECK(g->tensors().size() == 3);
    CHECK(g->metadata().front().first == "general.alignment");
}

TEST_CASE("damage: bad magic", "[io][gguf][damage]") {
    Bytes b = small();
    b[3] = std::byte{'X'};
    GRETA_REQUIRE_ERROR(open_damaged("bad-magic.gguf", b), "bad-magic.gguf", "bad magic", "not a GGUF file");
}

TEST_CASE("damage: unsupported versions 1 and 99", "[io][gguf][damage]") {
    Bytes b = small();
    poke<std::uint32_t>(b, 4, 1);
    GRETA_REQUIRE_ERROR(open_damaged("v1.gguf", b), "v1.gguf", "unsupported GGUF version 1", "at offset 4");
    poke<std::uint32_t>(b, 4, 99);
    GRETA_REQUIRE_ERROR(open_damaged("v99.gguf", b), "v99.gguf", "unsupported GGUF version 99");
    poke<std::uint32_t>(b, 4, 0x03000000);
    GRETA_REQUIRE_ERROR(open_damaged("bigendian.gguf", b), "bigendian.gguf", "big-endian");
}

TEST_CASE("damage: truncated anywhere", "[io][gguf][damage]") {
    const Bytes b = small();
    const std::size_t header_end = test::find_bytes(b, "tensor_c") + 8 + 4 + 16 + 4 + 8;
    // tensor_c (68 bytes of Q8_0) is last; the writer pads it to 128, so its data ends 60
    // bytes before the end of the file.
    const std::size_t last_data_end = b.size() - 60;
    for (const std::size_t cut : {std::size_t(0), std::size_t(3), std::size_t(6), std::size_t(20), std::size_t(30),
                                  header_end - 4}) {
        INFO("cut at " << cut);
        const Bytes t(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(cut));
        GRETA_REQUIRE_ERROR(open_damaged("truncated.gguf", t), "truncated.gguf", "truncated");
    }
    for (const std::size_t cut : {header_end + 1, last_data_end - 68, last_data_end - 1}) {
        INFO("cut at " << cut);
        const Bytes t(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(cut));
        GRETA_REQUIRE_ERROR(open_damaged("truncated.gguf", t), "truncated.gguf", "past the end");
    }
    const Bytes t(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(last_data_end - 1));
    GRETA_REQUIRE_ERROR(open_damaged("truncated.gguf", t), "'tensor_c'");
}

TEST_CASE("damage: huge string lengths", "[io][gguf][damage]") {
    Bytes b = small();
    poke<std::uint64_t>(b, 24, std::uint64_t(1) << 62);  // the first key's length
    GRETA_REQUIRE_ERROR(open_damaged("huge-key.gguf", b), "huge-key.gguf", "metadata key length 4611686018427387904",
                        "exceeds", "at offset 24");
    b = small();
    const std::size_t value = value_type_at(b, "test.string") + 4;  // u64 length of "hello"
    poke<std::uint64_t>(b, value, ~std::uint64_t(0));
    GRETA_REQUIRE_ERROR(open_damaged("huge-string.gguf", b), "huge-string.gguf", "string value length", "exceeds",
                        "'test.string'");
    b = small();
    const std::size_t name_len = test::find_bytes(b, "tensor_b") - 8;
    poke<std::uint64_t>(b, name_len, b.size());  // just past what remains
    GRETA_REQUIRE_ERROR(open_damaged("huge-name.gguf", b), "huge-name.gguf", "tensor name length", "exceeds");
}

TEST_CASE("damage: huge array lengths", "[io][gguf][damage]") {
    Bytes b = small();
    const std::size_t count = value_type_at(b, "test.array") + 4 + 4;  // after type=array, elem type
    poke<std::uint64_t>(b, count, std::uint64_t(1) << 61);
    GRETA_REQUIRE_ERROR(open_damaged("huge-array.gguf", b), "huge-array.gguf", "array length 2305843009213693952",
                        "cannot fit", "'test.array'");
    b = small();
    const std::size_t scount = value_type_at(b, "test.strings") + 4 + 4;
    poke<std::uint64_t>(b, scount, std::uint64_t(1) << 40);
    GRETA_REQUIRE_ERROR(open_damaged("huge-strarray.gguf", b), "huge-strarray.gguf", "array length", "of string",
                        "'test.strings'");
}

TEST_CASE("damage: absurd tensor and metadata counts", "[io][gguf][damage]") {
    Bytes b = small();
    poke<std::uint64_t>(b, 8, std::uint64_t(1) << 50);
    GRETA_REQUIRE_ERROR(open_damaged("n-tensors.gguf", b), "n-tensors.gguf", "tensor count 1125899906842624",
                        "cannot fit", "at offset 8");
    b = small();
    poke<std::uint64_t>(b, 16, ~std::uint64_t(0));
    GRETA_REQUIRE_ERROR(open_damaged("n-kv.gguf", b), "n-kv.gguf", "metadata count", "cannot fit");
    b = small();
    poke<std::uint64_t>(b, 8, 4);  // one more tensor than described: runs out of header
    GRETA_REQUIRE_ERROR(open_damaged("n-tensors-plus1.gguf", b), "n-tensors-plus1.gguf", "tensor");
}

TEST_CASE("damage: tensor offset past the end", "[io][gguf][damage]") {
    Bytes b = small();
    const auto at = test::tensor_info_at(b, "tensor_c", 2);
    poke<std::uint64_t>(b, at.offset, 64 * 1000);
    GRETA_REQUIRE_ERROR(open_damaged("offset-past-end.gguf", b), "offset-past-end.gguf", "past the end", "'tensor_c'");
    poke<std::uint64_t>(b, at.offset, ~std::uint64_t(63));  // aligned, and offset + size overflows
    GRETA_REQUIRE_ERROR(open_damaged("offset-overflow.gguf", b), "offset-overflow.gguf", "past the end", "'tensor_c'");
}

TEST_CASE("damage: misaligned tensor offset", "[io][gguf][damage]") {
    Bytes b = small();
    const auto at = test::tensor_info_at(b, "tensor_b", 1);
    poke<std::uint64_t>(b, at.offset, test::peek<std::uint64_t>(b, at.offset) + 4);
    GRETA_REQUIRE_ERROR(open_damaged("misaligned.gguf", b), "misaligned.gguf", "not a multiple of the alignment 64",
                        "'tensor_b'");
}

TEST_CASE("damage: overflowing dimensions", "[io][gguf][damage]") {
    Bytes b = small();
    const auto at = test::tensor_info_at(b, "tensor_a", 2);
    poke<std::uint64_t>(b, at.ne0 + 8, std::uint64_t(1) << 62);  // 8 x 2^62 elements
    GRETA_REQUIRE_ERROR(open_damaged("dims-overflow.gguf", b), "dims-overflow.gguf", "tensor dimensions overflow",
                        "'tensor_a'");
    b = small();
    poke<std::uint64_t>(b, at.ne0, ~std::uint64_t(0));  // beyond int64
    GRETA_REQUIRE_ERROR(open_damaged("dim-huge.gguf", b), "dim-huge.gguf", "overflow", "'tensor_a'");
    b = small();
    poke<std::uint32_t>(b, at.n_dims, 5);
    GRETA_REQUIRE_ERROR(open_damaged("five-dims.gguf", b), "five-dims.gguf", "5 dimensions", "'tensor_a'");
    b = small();
    const auto c = test::tensor_info_at(b, "tensor_c", 2);
    poke<std::uint64_t>(b, c.ne0, 33);  // Q8_0 rows hold whole blocks of 32
    GRETA_REQUIRE_ERROR(open_damaged("partial-block.gguf", b), "partial-block.gguf", "block size 32", "'tensor_c'");
}

TEST_CASE("damage: unknown tensor type id", "[io][gguf][damage]") {
    Bytes b = small();
    const auto at = test::tensor_info_at(b, "tensor_a", 2);
    poke<std::uint32_t>(b, at.type, 99);
    GRETA_REQUIRE_ERROR(open_damaged("type99.gguf", b), "type99.gguf", "unknown tensor type id 99", "'tensor_a'");
    poke<std::uint32_t>(b, at.type, 4);  // Q4_2: removed from GGML long ago
    GRETA_REQUIRE_ERROR(open_damaged("type4.gguf", b), "type4.gguf", "unknown tensor type id 4");
}

TEST_CASE("damage: unknown metadata value type", "[io][gguf][damage]") {
    Bytes b = small();
    poke<std::uint32_t>(b, value_type_at(b, "test.string"), 13);
    GRETA_REQUIRE_ERROR(open_damaged("kvtype.gguf", b), "kvtype.gguf", "unknown metadata value type 13",
                        "'test.string'");
}

TEST_CASE("damage: duplicate tensor names", "[io][gguf][damage]") {
    Bytes b = small();
    b[test::find_bytes(b, "tensor_b") + 7] = std::byte{'a'};
    GRETA_REQUIRE_ERROR(open_damaged("dup-tensor.gguf", b), "dup-tensor.gguf", "duplicate tensor name", "'tensor_a'");
}

TEST_CASE("damage: duplicate metadata keys", "[io][gguf][damage]") {
    Bytes b = small();
    b[test::find_bytes(b, "test.dup2") + 8] = std::byte{'1'};
    GRETA_REQUIRE_ERROR(open_damaged("dup-key.gguf", b), "dup-key.gguf", "duplicate metadata key", "'test.dup1'");
}

TEST_CASE("damage: bad alignment values", "[io][gguf][damage]") {
    for (const std::uint32_t bad : {0u, 24u, 63u}) {
        Bytes b = small();
        const std::size_t value = value_type_at(b, "general.alignment") + 4;
        REQUIRE(test::peek<std::uint32_t>(b, value) == 64);
        poke<std::uint32_t>(b, value, bad);
        GRETA_REQUIRE_ERROR(open_damaged("alignment.gguf", b), "alignment.gguf",
                            "general.alignment must be a nonzero power of two, got " + std::to_string(bad));
    }
    Bytes b = small();
    poke<std::uint32_t>(b, value_type_at(b, "general.alignment"), 8);  // now a string: wrong type
    // The u32 value 64 now reads as a string length (64 bytes of what follows) and parsing then
    // fails somewhere or the alignment check complains; either way an Error naming the file.
    GRETA_REQUIRE_ERROR(open_damaged("alignment-type.gguf", b), "alignment-type.gguf");
}

TEST_CASE("damage: arrays nested too deep", "[io][gguf][damage]") {
    GgufValue v = GgufValue::array<std::uint8_t>(std::vector<std::uint8_t>{1});
    for (int i = 0; i < 12; ++i) v = GgufValue::array_of_arrays({v});
    GgufWriter w;
    w.add("deep", v);
    GRETA_REQUIRE_ERROR(open_damaged("deep.gguf", w.to_bytes()), "deep.gguf", "nested deeper", "'deep'");
}

TEST_CASE("truncation sweep over a real GGUF", "[io][gguf][damage]") {
    GRETA_SHARED_OR_SKIP(path, "models/stories260K-f32.gguf");
    const Bytes full = test::read_file_bytes(path);
    REQUIRE(GgufFile::parse_bytes(full, "stories260K-f32.gguf")->tensors().size() == 48);
    // Dense through the header (magic, counts, keys, the vocabulary, the tensor table), then
    // spread over the data section, and the very last byte.
    std::vector<std::size_t> cuts{0, 1, 4, 7, 8, 15, 16, 23, 24, 30, 100, 1000, 5000, 9000, 12000, 13000, 14000, 14150};
    for (std::size_t c = 15000; c < full.size(); c += full.size() / 20) cuts.push_back(c);
    cuts.push_back(full.size() - 1);
    REQUIRE(cuts.size() >= 31);
    for (const std::size_t cut : cuts) {
        INFO("cut at " << cut << " of " << full.size());
        const std::span<const std::byte> part(full.data(), cut);
        GRETA_REQUIRE_ERROR(GgufFile::parse_bytes(part, "stories260K-f32.gguf"), "stories260K-f32.gguf");
    }
}

TEST_CASE("random mutations give a GgufFile or a greta::Error, nothing else", "[io][gguf][damage]") {
    const Bytes base = small();
    std::mt19937_64 rng(1234);
    int errors = 0, parsed = 0;
    for (int iter = 0; iter < 3000; ++iter) {
        Bytes b = base;
        const int edits = 1 + int(rng() % 4);
        for (int e = 0; e < edits; ++e) {
            const std::size_t at = rng() % b.size();
            switch (rng() % 4) {
                case 0: b[at] = std::byte(rng()); break;                                  // random byte
                case 1: b[at] = std::byte(0xff); break;                                   // saturate
                case 2: if (at + 8 <= b.size()) poke<std::uint64_t>(b, at, rng()); break; // random u64
                default: b.resize(at); break;                                             // truncate
            }
            if (b.empty()) break;
        }
        try {
            const auto g = GgufFile::parse_bytes(b, "mutant.gguf");
            // Whatever parsed must describe bytes inside the buffer.
            for (const auto& t : g->tensors())
                CHECK(g->tensor_file_offset(t) + t.n_bytes <= b.size());
            ++parsed;
        } catch (const greta::Error& e) {
            CHECK(std::string(e.what()).find("mutant.gguf") != std::string::npos);
            ++errors;
        }
    }
    CHECK(errors > 0);
    CHECK(parsed + errors == 3000);
}
