#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>
#include <functional>
#include <string>

#include <greta/sampling/params.hpp>

using Catch::Matchers::ContainsSubstring;
using greta::sampling::SamplingParams;

namespace {
// The message of validate() for params changed by `edit`, or "" when it accepts them.
std::string complaint(const std::function<void(SamplingParams&)>& edit) {
    SamplingParams p;
    edit(p);
    try {
        p.validate();
        return "";
    } catch (const greta::Error& e) {
        return e.what();
    }
}
}  // namespace

TEST_CASE("default and boundary sampling parameters are valid", "[sampling][params]") {
    CHECK_NOTHROW(SamplingParams{}.validate());
    CHECK(complaint([](auto& p) { p.temperature = 0.0f; }).empty());
    CHECK(complaint([](auto& p) { p.top_k = 0; }).empty());
    CHECK(complaint([](auto& p) { p.top_p = 1.0f; }).empty());
    CHECK(complaint([](auto& p) { p.min_p = 0.0f; }).empty());
    CHECK(complaint([](auto& p) { p.min_p = 1.0f; }).empty());
    CHECK(complaint([](auto& p) { p.penalty_last_n = 0; }).empty());
    CHECK(complaint([](auto& p) { p.presence_penalty = -0.5f; }).empty());
}

TEST_CASE("validate names each invalid value in one line", "[sampling][params]") {
    struct Case {
        std::function<void(SamplingParams&)> edit;
        const char* field;
        const char* value;
    };
    const Case cases[] = {
        {[](auto& p) { p.temperature = -0.1f; }, "temperature", "-0.1"},
        {[](auto& p) { p.temperature = NAN; }, "temperature", "nan"},
        {[](auto& p) { p.temperature = INFINITY; }, "temperature", "inf"},
        {[](auto& p) { p.top_k = -1; }, "top_k", "-1"},
        {[](auto& p) { p.top_p = 0.0f; }, "top_p", "= 0"},
        {[](auto& p) { p.top_p = 1.5f; }, "top_p", "1.5"},
        {[](auto& p) { p.top_p = -0.2f; }, "top_p", "-0.2"},
        {[](auto& p) { p.top_p = NAN; }, "top_p", "nan"},
        {[](auto& p) { p.min_p = -0.01f; }, "min_p", "-0.01"},
        {[](auto& p) { p.min_p = 1.01f; }, "min_p", "1.01"},
        {[](auto& p) { p.min_p = NAN; }, "min_p", "nan"},
        {[](auto& p) { p.repeat_penalty = 0.0f; }, "repeat_penalty", "= 0"},
        {[](auto& p) { p.repeat_penalty = -1.0f; }, "repeat_penalty", "-1"},
        {[](auto& p) { p.repeat_penalty = NAN; }, "repeat_penalty", "nan"},
        {[](auto& p) { p.presence_penalty = NAN; }, "presence_penalty", "nan"},
        {[](auto& p) { p.frequency_penalty = NAN; }, "frequency_penalty", "nan"},
        {[](auto& p) { p.penalty_last_n = -1; }, "penalty_last_n", "-1"},
    };
    for (const auto& c : cases) {
        const std::string msg = complaint(c.edit);
        CAPTURE(c.field, c.value, msg);
        CHECK_THAT(msg, ContainsSubstring(c.field) && ContainsSubstring(c.value));
        CHECK(msg.find('\n') == std::string::npos);
    }
}
