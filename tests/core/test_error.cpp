#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <greta/core/dtype.hpp>
#include <greta/core/error.hpp>

using Catch::Matchers::ContainsSubstring;

TEST_CASE("greta::Error names file, offset and key in one line", "[core][error]") {
    const greta::Error e("bad magic", {"model.gguf", 0, "header"});
    const std::string what = e.what();
    CHECK(what == "model.gguf: bad magic (at offset 0, 'header')");
    CHECK(what.find('\n') == std::string::npos);
    CHECK(e.message() == "bad magic");
    CHECK(e.context().file == "model.gguf");
}

TEST_CASE("ensure reports the caller's location", "[core][error]") {
    try {
        greta::ensure(false, "impossible");
        FAIL("ensure did not throw");
    } catch (const greta::Error& e) {
        CHECK_THAT(e.what(), ContainsSubstring("test_error.cpp") && ContainsSubstring("impossible"));
    }
}

TEST_CASE("dtype geometry matches GGUF", "[core][dtype]") {
    CHECK(greta::dtype_info(greta::DType::Q4_K).block_bytes == 144);
    CHECK(greta::dtype_info(greta::DType::Q6_K).block_bytes == 210);
    CHECK(greta::dtype_info(greta::DType::Q8_0).block_bytes == 34);
    CHECK(*greta::row_bytes(greta::DType::Q4_K, 4096) == 16 * 144);
    CHECK_FALSE(greta::row_bytes(greta::DType::Q4_K, 100).has_value());  // not whole blocks
    CHECK_FALSE(greta::row_bytes(greta::DType::F32, ~0ull).has_value());  // overflow
    CHECK_FALSE(greta::dtype_info(4u).has_value());                      // removed Q4_2
    CHECK_FALSE(greta::dtype_info(999u).has_value());
}
