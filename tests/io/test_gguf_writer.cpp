// GgufWriter: byte layout against a hand-assembled file, and round trips of every value type.
#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include <greta/core/half.hpp>
#include <greta/io/gguf.hpp>
#include <greta/io/gguf_writer.hpp>

#include "io_test_util.hpp"
#include "shared_files.hpp"

using namespace greta;
using namespace greta::io;
using greta::test::Bytes;

namespace {
/// Little-endian assembly written independently of the writer, straight from the GGUF spec.
struct Assembler {
    Bytes b;
    template <class T>
    void put(T v) {
        const auto* p = reinterpret_cast<const std::byte*>(&v);
        b.insert(b.end(), p, p + sizeof v);
    }
    void str(std::string_view s) {
        put<std::uint64_t>(s.size());
        const auto* p = reinterpret_cast<const std::byte*>(s.data());
        b.insert(b.end(), p, p + s.size());
    }
};
}  // namespace

TEST_CASE("writer output matches a hand-assembled GGUF v3", "[io][gguf][writer]") {
    GgufWriter w;
    w.add_uint32("a.u32", 7);
    w.add_string_array("a.strs", {"x", "yz"});
    const std::vector<float> data{1.0f, -2.0f, 3.5f};
    w.add_tensor("t", DType::F32, {3}, test::f32_bytes(data));

    Assembler e;
    e.put<std::uint32_t>(0x46554747);  // "GGUF"
    e.put<std::uint32_t>(3);
    e.put<std::uint64_t>(1);  // tensors
    e.put<std::uint64_t>(2);  // kv
    e.str("a.u32");
    e.put<std::uint32_t>(4);  // u32
    e.put<std::uint32_t>(7);
    e.str("a.strs");
    e.put<std::uint32_t>(9);  // array
    e.put<std::uint32_t>(8);  // of string
    e.put<std::uint64_t>(2);
    e.str("x");
    e.str("yz");
    e.str("t");
    e.put<std::uint32_t>(1);  // n_dims
    e.put<std::uint64_t>(3);
    e.put<std::uint32_t>(0);  // F32
    e.put<std::uint64_t>(0);  // offset
    while (e.b.size() % 32) e.b.push_back(std::byte{0});
    for (float f : data) e.put(f);
    while (e.b.size() % 32) e.b.push_back(std::byte{0});

    CHECK(w.to_bytes() == e.b);
}

TEST_CASE("every metadata type round-trips through a file", "[io][gguf][writer]") {
    GgufWriter w;
    w.add_uint8("u8", 255);
    w.add_int8("i8", -128);
    w.add_uint16("u16", 65535);
    w.add_int16("i16", -32768);
    w.add_uint32("u32", 4000000000u);
    w.add_int32("i32", -2000000000);
    w.add_uint64("u64", std::numeric_limits<std::uint64_t>::max());
    w.add_int64("i64", std::numeric_limits<std::int64_t>::min());
    w.add_float32("f32", -1.5f);
    w.add_float64("f64", 1e300);
    w.add_bool("bool", true);
    w.add_string("str", std::string("caf\xc3\xa9 with\0nul", 13));
    w.add_string("empty", "");
    w.add_array<std::int16_t>("arr.i16", std::vector<std::int16_t>{-1, 2, -3});
    w.add_array<float>("arr.f32", std::vector<float>{0.25f, -0.5f});
    w.add_array<double>("arr.f64", std::vector<double>{1e-300});
    w.add_array<std::uint64_t>("arr.u64", std::vector<std::uint64_t>{});
    const bool flags[] = {true, false, true};  // not std::vector<bool>: it has no contiguous storage
    w.add_array<bool>("arr.bool", std::span<const bool>(flags));
    w.add_string_array("arr.str", {"<unk>", "", "\xe2\x96\x81the"});
    // Nested: an array of arrays of different element types.
    w.add("arr.nested", GgufValue::array_of_arrays({GgufValue::array<std::uint8_t>(std::vector<std::uint8_t>{1, 2}),
                                                    GgufValue::string_array({"p", "q"}),
                                                    GgufValue::array_of_arrays({GgufValue::string_array({})})}));

    const auto path = test::scratch_dir() / "all_types.gguf";
    w.write(path);
    const auto g = GgufFile::open(path);
    REQUIRE(g->metadata().size() == 20);
    CHECK(g->metadata()[0].first == "u8");  // file order kept
    CHECK(g->metadata()[19].first == "arr.nested");

    CHECK(g->get_uint("u8") == 255u);
    CHECK(g->find("i8")->as_int() == -128);
    CHECK(g->find("i8")->as_uint() == std::nullopt);  // negative
    CHECK(g->get_uint("u16") == 65535u);
    CHECK(g->find("i16")->as_int() == -32768);
    CHECK(g->get_uint("u32") == 4000000000u);
    CHECK(g->find("i32")->as_int() == -2000000000);
    CHECK(g->get_uint("u64") == std::numeric_limits<std::uint64_t>::max());
    CHECK(g->find("u64")->as_int() == std::nullopt);  // does not fit int64
    CHECK(g->find("i64")->as_int() == std::numeric_limits<std::int64_t>::min());
    CHECK(g->get_float("f32") == -1.5);
    CHECK(g->get_float("f64") == 1e300);
    CHECK(g->get_float("u8") == 255.0);  // integers are numbers too
    CHECK(g->get_bool("bool") == true);
    CHECK(g->get_string("str") == std::string("caf\xc3\xa9 with\0nul", 13));
    CHECK(g->get_string("empty") == "");
    CHECK(g->find("f32")->type() == GgufType::F32);
    CHECK(g->find("bool")->type() == GgufType::Bool);

    CHECK(g->get_int_array("arr.i16") == std::vector<std::int64_t>{-1, 2, -3});
    CHECK(g->get_float_array("arr.f32") == std::vector<float>{0.25f, -0.5f});
    CHECK(g->find("arr.f64")->float_at(0) == 1e-300);
    CHECK(g->find("arr.u64")->size() == 0);
    CHECK(g->find("arr.u64")->array_type() == GgufType::U64);
    CHECK(g->find("arr.bool")->array_type() == GgufType::Bool);
    CHECK(g->find("arr.bool")->raw().size() == 3);
    CHECK(g->get_string_array("arr.str") == std::vector<std::string>{"<unk>", "", "\xe2\x96\x81the"});
    const GgufValue* nested = g->find("arr.nested");
    REQUIRE(nested);
    CHECK(nested->array_type() == GgufType::Array);
    REQUIRE(nested->arrays().size() == 3);
    CHECK(nested->arrays()[0].uint_at(1) == 2u);
    CHECK(nested->arrays()[1].strings() == std::vector<std::string>{"p", "q"});
    CHECK(nested->arrays()[2].arrays()[0].array_type() == GgufType::String);

    // Every value equals what was written, and the file re-serializes to the same bytes.
    GgufWriter again;
    for (const auto& [k, v] : g->metadata()) again.add(k, v);
    CHECK(again.to_bytes() == w.to_bytes());

    // Printable forms stay on one line.
    for (const auto& [k, v] : g->metadata()) CHECK(v.to_string().find('\n') == std::string::npos);
    CHECK(g->find("arr.str")->to_string() == "[3 x string] \"<unk>\", \"\", \"\xe2\x96\x81the\"");
    CHECK(g->find("i8")->to_string() == "-128");
}

TEST_CASE("tensors are aligned and their data read back exactly", "[io][gguf][writer]") {
    for (const std::uint64_t alignment : {32u, 64u, 4096u}) {
        GgufWriter w(alignment);
        const std::vector<float> a{1, 2, 3, 4, 5, 6};  // 24 bytes: the next tensor needs padding
        std::vector<std::uint16_t> h(64);
        for (std::size_t i = 0; i < h.size(); ++i) h[i] = f32_to_fp16(float(i) - 32.0f);
        Bytes hb(h.size() * 2);
        std::memcpy(hb.data(), h.data(), hb.size());
        w.add_tensor("a", DType::F32, {3, 2}, test::f32_bytes(a));
        w.add_tensor("h", DType::F16, {16, 2, 2}, std::span<const std::byte>(hb));
        // Generated in row chunks: row r holds the value r in every element.
        w.add_tensor("gen", DType::F32, {5, 7}, GgufWriter::TensorFill([](std::span<std::byte> rows, std::uint64_t first) {
            for (std::size_t i = 0; i < rows.size() / 4; ++i) {
                const float v = float(first + i / 5);
                std::memcpy(rows.data() + 4 * i, &v, 4);
            }
        }));
        const auto path = test::scratch_dir() / ("aligned" + std::to_string(alignment) + ".gguf");
        w.write(path);
        const auto g = GgufFile::open(path);
        CHECK(g->alignment() == alignment);
        CHECK((g->find("general.alignment") != nullptr) == (alignment != 32));
        for (const auto& t : g->tensors()) CHECK(g->tensor_file_offset(t) % alignment == 0);
        const TensorView* ta = g->find_tensor("a");
        REQUIRE(ta);
        CHECK(ta->ne == std::array<std::uint64_t, 4>{3, 2, 1, 1});
        CHECK(std::memcmp(ta->data, a.data(), 24) == 0);
        const TensorView* th = g->find_tensor("h");
        REQUIRE(th);
        CHECK(th->n_dims == 3);
        CHECK(th->rows() == 4);
        CHECK(std::memcmp(th->data, h.data(), hb.size()) == 0);
        const TensorView* tg = g->find_tensor("gen");
        REQUIRE(tg);
        for (std::uint64_t r = 0; r < 7; ++r) {
            float v;
            std::memcpy(&v, tg->row(r) + 4 * 4, 4);
            CHECK(v == float(r));
        }
    }
}

TEST_CASE("GGUF version 2 files are read like version 3", "[io][gguf][writer]") {
    Bytes b = test::small_gguf_writer().to_bytes();
    test::poke<std::uint32_t>(b, 4, 2);
    const auto g = GgufFile::parse_bytes(b, "v2.gguf");
    CHECK(g->version() == 2);
    CHECK(g->tensors().size() == 3);
    CHECK(g->get_string("test.string") == "hello");
}

TEST_CASE("writer rejects what would make an invalid file", "[io][gguf][writer]") {
    GgufWriter w;
    w.add_uint32("k", 1);
    GRETA_REQUIRE_ERROR(w.add_uint32("k", 2), "duplicate metadata key", "'k'");
    w.add_tensor("t", DType::F32, {2}, Bytes(8));
    GRETA_REQUIRE_ERROR(w.add_tensor("t", DType::F32, {2}, Bytes(8)), "duplicate tensor name", "'t'");
    GRETA_REQUIRE_ERROR(w.add_tensor("short", DType::F32, {4}, Bytes(8)), "8 bytes", "needs 16", "'short'");
    GRETA_REQUIRE_ERROR(w.add_tensor("q", DType::Q8_0, {33}, Bytes(34)), "not a whole number of Q8_0 blocks");
    GRETA_REQUIRE_ERROR(w.add_tensor("d5", DType::F32, {1, 1, 1, 1, 1}, Bytes(4)), "1 to 4 dimensions");
    GRETA_REQUIRE_ERROR(GgufWriter(48), "power of two");
    GRETA_REQUIRE_ERROR(w.write(test::scratch_dir() / "no-such-dir" / "x.gguf"), "cannot create file", "x.gguf");
}
