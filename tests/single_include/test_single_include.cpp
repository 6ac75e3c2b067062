// Built against single_include/ only: the amalgamation must be complete and self-contained.
#include <greta/greta.hpp>

#include <catch2/catch_test_macros.hpp>

TEST_CASE("single header exposes the public API", "[single_include]") {
    STATIC_CHECK(greta::Llama2_7B::cfg.dim == 4096);
    CHECK(greta::fp16_to_f32(greta::f32_to_fp16(0.5f)) == 0.5f);
}
