#include <catch2/catch_test_macros.hpp>

#include <greta/config/presets.hpp>

TEST_CASE("Llama-2 presets have the published parameter counts", "[config]") {
    // Published: Llama-2-7B 6,738,415,616; 13B 13,015,864,320; 70B 68,976,648,192.
    STATIC_CHECK(greta::Llama2_7B::cfg.n_params() == 6'738'415'616ull);
    STATIC_CHECK(greta::Llama2_13B::cfg.n_params() == 13'015'864'320ull);
    STATIC_CHECK(greta::Llama2_70B::cfg.n_params() == 68'976'648'192ull);
    STATIC_CHECK(greta::TinyLlama_1_1B::cfg.n_params() == 1'100'048'384ull);
}

TEST_CASE("derived values", "[config]") {
    constexpr auto c = greta::Llama2_70B::cfg;
    STATIC_CHECK(c.q_dim() == 8192);
    STATIC_CHECK(c.kv_dim() == 1024);
    STATIC_CHECK(c.gqa_group() == 8);
    STATIC_CHECK(greta::Llama2_7B::cfg.kv_cache_bytes(4096) == 2ull * 32 * 4096 * 4096 * 2);
}

TEST_CASE("invalid configs are rejected", "[config]") {
    greta::ModelConfig c = greta::Stories260K::cfg;
    CHECK(c.valid());
    c.n_kv_heads = 3;  // 8 heads cannot be grouped over 3 KV heads
    CHECK_FALSE(c.valid());
    c = greta::Stories260K::cfg;
    c.head_dim = 7;  // RoPE rotates pairs
    CHECK_FALSE(c.valid());
}

TEST_CASE("for_each_preset visits every preset", "[config]") {
    int n = 0;
    greta::for_each_preset([&]<class P>() { ++n; return false; });
    CHECK(n == 5);
}
