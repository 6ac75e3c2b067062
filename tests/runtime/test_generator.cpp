#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <string>
#include <vector>

#include <greta/runtime/engine.hpp>
#include <greta/runtime/generator.hpp>

#include "shared_files.hpp"

using namespace greta;
using Catch::Matchers::ContainsSubstring;

namespace {
std::string generate_text(runtime::Engine& engine, const std::string& prompt, runtime::GenerateOptions opt,
                          runtime::GenerationStats* stats = nullptr) {
    std::string out;
    auto st = engine.generate(prompt, opt, [&](std::string_view s) {
        out += s;
        return true;
    });
    if (stats) *stats = st;
    return out;
}

runtime::GenerateOptions greedy(int n) {
    runtime::GenerateOptions o;
    o.n_predict = n;
    o.sampling.temperature = 0.0f;
    return o;
}
}  // namespace

TEST_CASE("stories260K greedy 200 tokens from BOS matches llama2.c's reference text", "[runtime][greedy]") {
    GRETA_SHARED_OR_SKIP(expected_path, "models/stories260K.greedy200.txt");
    const auto expected_bytes = test::read_bytes(expected_path);
    const std::string expected(expected_bytes.begin(), expected_bytes.end());

    SECTION("GGUF") {
        GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
        auto engine = runtime::Engine::open({.model = model});
        runtime::GenerationStats st;
        CHECK(generate_text(engine, "", greedy(200), &st) == expected);
        CHECK(st.n_prompt == 1);
    }
    SECTION("llama2.c checkpoint with its SentencePiece tokenizer") {
        GRETA_SHARED_OR_SKIP(model, "models/stories260K.bin");
        GRETA_SHARED_OR_SKIP(tok, "models/tok512.model");
        auto engine = runtime::Engine::open({.model = model, .tokenizer = tok});
        CHECK(generate_text(engine, "", greedy(200), nullptr) == expected);
    }
}

TEST_CASE("same seed gives the same text; another seed another text", "[runtime][sampling]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    auto engine = runtime::Engine::open({.model = model});
    runtime::GenerateOptions o;
    o.n_predict = 60;
    o.sampling.temperature = 1.0f;
    o.sampling.top_k = 0;
    o.sampling.top_p = 1.0f;
    o.sampling.min_p = 0.0f;
    o.sampling.seed = 11;
    const auto a = generate_text(engine, "Once upon a time", o);
    const auto b = generate_text(engine, "Once upon a time", o);
    o.sampling.seed = 12;
    const auto c = generate_text(engine, "Once upon a time", o);
    CHECK(a == b);
    CHECK(a != c);
}

TEST_CASE("stop strings end generation before the stop text", "[runtime][stop]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    GRETA_SHARED_OR_SKIP(expected_path, "models/stories260K.greedy200.txt");
    const auto bytes = test::read_bytes(expected_path);
    const std::string full(bytes.begin(), bytes.end());
    auto engine = runtime::Engine::open({.model = model});
    auto o = greedy(200);
    o.stop_strings = {"Lily"};
    runtime::GenerationStats st;
    const auto text = generate_text(engine, "", o, &st);
    REQUIRE(full.find("Lily") != std::string::npos);
    CHECK(text == full.substr(0, full.find("Lily")));
    CHECK(st.stop == runtime::StopReason::StopString);
}

TEST_CASE("StopMatcher holds back possible stop-string prefixes", "[runtime][stop]") {
    runtime::StopMatcher m({"</s>", "STOP"});
    CHECK(m.push("hello <") == "hello ");
    CHECK(m.push("/x") == "</x");
    CHECK(m.push(" ST") == " ");
    CHECK_FALSE(m.stopped());
    CHECK(m.push("OP tail") == "");
    CHECK(m.stopped());
    runtime::StopMatcher none({});
    CHECK(none.push("abc") == "abc");
}

TEST_CASE("prompt or budget beyond an explicit context is an error before any work", "[runtime][errors]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    auto engine = runtime::Engine::open({.model = model, .context = 8});
    bool called = false;
    auto cb = [&](std::string_view) { return called = true; };
    CHECK_THROWS_WITH(engine.generate("Once upon a time there was a little girl named Lily", greedy(1), cb),
                      ContainsSubstring("longer than the context"));
    CHECK_THROWS_WITH(engine.generate("Once", greedy(100), cb), ContainsSubstring("exceeds the context"));
    CHECK_FALSE(called);
    runtime::GenerateOptions bad = greedy(4);
    bad.sampling.temperature = -1.0f;
    CHECK_THROWS_AS(engine.generate("Once", bad, cb), Error);
}

TEST_CASE("automatic context grows past the model's trained context", "[runtime]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");  // says context_length 128
    std::string logged;
    runtime::EngineOptions eo{.model = model};
    eo.log = [&](std::string_view s) { logged += s; };
    auto engine = runtime::Engine::open(eo);
    runtime::GenerationStats st;
    generate_text(engine, "", greedy(150), &st);
    CHECK(st.n_generated == 150);
    CHECK(engine.backend().context_length() >= 150);
    CHECK_THAT(logged, ContainsSubstring("exceeds the model's trained context"));
}

TEST_CASE("logits callback sees prompt rows then the row of every generated token", "[runtime]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    auto engine = runtime::Engine::open({.model = model});
    std::vector<std::vector<float>> rows;
    auto st = engine.generate("Once upon", greedy(5), [](std::string_view) { return true; },
                              [&](std::span<const float> r) { rows.emplace_back(r.begin(), r.end()); });
    REQUIRE(rows.size() == st.n_prompt + st.n_generated);
    CHECK(rows[st.n_prompt] == rows[st.n_prompt - 1]);  // the first token comes from the last prompt row
    for (std::size_t i = 0; i < st.n_generated; ++i) {
        const auto& r = rows[st.n_prompt + i];
        CHECK(std::size_t(std::max_element(r.begin(), r.end()) - r.begin()) == std::size_t(st.tokens[i]));
    }
}

TEST_CASE("greedy generation stops at the budget, at a callback's no, and generates nothing for 0", "[runtime]") {
    GRETA_SHARED_OR_SKIP(model, "models/stories260K-f32.gguf");
    auto engine = runtime::Engine::open({.model = model});
    runtime::GenerationStats st;
    CHECK(generate_text(engine, "Once upon", greedy(0), &st).empty());
    CHECK(st.n_generated == 0);
    CHECK(st.stop == runtime::StopReason::TokenBudget);

    const std::string twelve = generate_text(engine, "Once upon", greedy(12), &st);
    CHECK(st.n_generated == 12);
    CHECK(st.stop == runtime::StopReason::TokenBudget);

    int pieces = 0;
    st = engine.generate("Once upon", greedy(12), [&](std::string_view) { return ++pieces < 3; });
    CHECK(pieces == 3);
    CHECK(st.stop == runtime::StopReason::Callback);
    CHECK(st.n_generated < 12);
    CHECK(st.n_generated >= 3);
    // The text generated before the stop is the start of the longer run's.
    CHECK_THAT(twelve, Catch::Matchers::StartsWith(generate_text(engine, "Once upon", greedy(int(st.n_generated)))));
}
