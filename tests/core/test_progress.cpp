#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <sstream>
#include <string>

#include <greta/core/progress.hpp>

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::EndsWith;

namespace {
// The text of the last redraw: what follows the last '\r'.
std::string last_line(const std::string& s) {
    const auto cr = s.rfind('\r');
    return cr == std::string::npos ? s : s.substr(cr + 1);
}
}  // namespace

TEST_CASE("live progress bar ends with the label and 100% on one line", "[core][progress]") {
    std::ostringstream out;
    const std::uint64_t total = 3ull << 30;
    {
        greta::ProgressBar bar("loading weights", total, out, greta::ProgressStyle::Live);
        for (std::uint64_t done = 0; done <= total; done += total / 100000) bar.update(done);
        bar.finish();
        bar.finish();  // idempotent
    }
    const std::string s = out.str();
    CHECK_THAT(s, EndsWith("\n"));
    CHECK(std::count(s.begin(), s.end(), '\n') == 1);
    // 100000 updates in a tight loop redraw only a few times (at most ~10 per second).
    CHECK(std::count(s.begin(), s.end(), '\r') < 20);
    const std::string final_line = last_line(s);
    CHECK_THAT(final_line, ContainsSubstring("loading weights"));
    CHECK_THAT(final_line, ContainsSubstring("100.0%"));
    CHECK_THAT(final_line, ContainsSubstring("3.00 GiB / 3.00 GiB"));
    CHECK_THAT(final_line, ContainsSubstring("/s"));
}

TEST_CASE("first update draws at once with the partial percentage", "[core][progress]") {
    std::ostringstream out;
    greta::ProgressBar bar("upload", 1000, out);
    bar.update(250);
    CHECK_THAT(out.str(),
               ContainsSubstring("upload") && ContainsSubstring("25.0%") && ContainsSubstring("250 B"));
    bar.advance(5000);  // clamped to the total
    CHECK(bar.done() == 1000);
}

TEST_CASE("final-line style prints only the finished line", "[core][progress]") {
    std::ostringstream out;
    greta::ProgressBar bar("model.gguf", 2048, out, greta::ProgressStyle::FinalLine);
    bar.update(1024);
    CHECK(out.str().empty());
    bar.finish();
    const std::string s = out.str();
    CHECK(s.find('\r') == std::string::npos);
    CHECK_THAT(s, ContainsSubstring("model.gguf") && ContainsSubstring("100.0%") && EndsWith("\n"));
}

TEST_CASE("silent style prints nothing", "[core][progress]") {
    std::ostringstream out;
    {
        greta::ProgressBar bar("quiet", 10, out, greta::ProgressStyle::Silent);
        bar.update(5);
        bar.finish();
    }
    CHECK(out.str().empty());
}

TEST_CASE("an unfinished live bar ends its line without claiming 100%", "[core][progress]") {
    std::ostringstream out;
    {
        greta::ProgressBar bar("aborted", 100, out);
        bar.update(40);
    }
    const std::string s = out.str();
    CHECK_THAT(s, EndsWith("\n"));
    CHECK(s.find("100.0%") == std::string::npos);
}

TEST_CASE("format_bytes uses binary units", "[core][progress]") {
    CHECK(greta::format_bytes(17) == "17 B");
    CHECK(greta::format_bytes(1536) == "1.50 KiB");
    CHECK(greta::format_bytes(512.0 * 1024 * 1024) == "512.0 MiB");
}
