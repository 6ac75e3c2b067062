#pragma once
/// @file ProgressBar: a one-line, self-redrawing progress report for long byte-counted work
/// (loading or uploading weights).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <ostream>
#include <string>
#include <utility>

#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

namespace greta {

/// How a ProgressBar reports.
enum class ProgressStyle {
    Live,       ///< redraw one line in place with '\r' (for a terminal)
    FinalLine,  ///< print only the finished line (for logs and pipes)
    Silent,     ///< print nothing
};

/// Live when standard error is a terminal, otherwise FinalLine: a redrawn line in a log file
/// is a long run of '\r'-separated copies.
inline ProgressStyle default_progress_style() {
#if __has_include(<unistd.h>)
    return ::isatty(STDERR_FILENO) ? ProgressStyle::Live : ProgressStyle::FinalLine;
#else
    return ProgressStyle::FinalLine;
#endif
}

/// "1.50 GiB", "512.0 MiB", "17 B": binary units, three significant digits or so.
inline std::string format_bytes(double bytes) {
    static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        ++u;
    }
    char buf[32];
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%.0f %s", bytes, units[u]);
    else
        std::snprintf(buf, sizeof buf, "%.*f %s", bytes < 10.0 ? 2 : 1, bytes, units[u]);
    return buf;
}

/// Single-line progress bar: "label [#####.....]  45.0%  1.20 GiB / 2.67 GiB  850.3 MiB/s".
/// Live style redraws at most every 100 ms (so a tight loop calling update() costs a clock
/// read per call) and ends the line on finish(). Not thread-safe: update from one thread.
class ProgressBar {
public:
    ProgressBar(std::string label, std::uint64_t total, std::ostream& out = std::cerr,
                ProgressStyle style = ProgressStyle::Live)
        : label_(std::move(label)), total_(total), out_(out), style_(style), start_(Clock::now()) {}

    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;

    /// Ends a live line left open (without claiming completion) so later output starts clean.
    ~ProgressBar() {
        if (!finished_ && drawn_width_ > 0) out_ << '\n' << std::flush;
    }

    /// Sets the amount done (clamped to total) and redraws if the last redraw is old enough.
    void update(std::uint64_t done) {
        done_ = std::min(done, total_);
        if (style_ != ProgressStyle::Live || finished_) return;
        const auto now = Clock::now();
        if (drawn_width_ > 0 && now - last_draw_ < redraw_interval) return;
        last_draw_ = now;
        draw(now);
    }

    /// Adds `delta` to the amount done.
    void advance(std::uint64_t delta) { update(done_ + std::min(delta, total_ - done_)); }

    /// Marks the work complete (done = total), prints the final line and a newline.
    /// Later calls do nothing.
    void finish() {
        if (finished_) return;
        done_ = total_;
        finished_ = true;
        if (style_ == ProgressStyle::Silent) return;
        draw(Clock::now());
        out_ << '\n' << std::flush;
    }

    std::uint64_t done() const noexcept { return done_; }
    std::uint64_t total() const noexcept { return total_; }

private:
    using Clock = std::chrono::steady_clock;
    static constexpr auto redraw_interval = std::chrono::milliseconds(100);
    static constexpr int bar_width = 24;

    void draw(Clock::time_point now) {
        const double fraction = total_ == 0 ? 1.0 : static_cast<double>(done_) / static_cast<double>(total_);
        const double seconds = std::chrono::duration<double>(now - start_).count();
        std::string line = label_ + " [";
        const int filled = static_cast<int>(fraction * bar_width);
        line.append(static_cast<std::size_t>(filled), '#');
        line.append(static_cast<std::size_t>(bar_width - filled), '.');
        char pct[16];
        std::snprintf(pct, sizeof pct, "] %5.1f%%  ", fraction * 100.0);
        line += pct;
        line += format_bytes(static_cast<double>(done_)) + " / " + format_bytes(static_cast<double>(total_));
        if (seconds > 0.0) line += "  " + format_bytes(static_cast<double>(done_) / seconds) + "/s";
        const std::size_t width = line.size();
        // Blank out what is left of a longer previous line.
        if (width < drawn_width_) line.append(drawn_width_ - width, ' ');
        drawn_width_ = std::max(drawn_width_, width);
        if (style_ == ProgressStyle::Live) out_ << '\r';
        out_ << line << std::flush;
    }

    std::string label_;
    std::uint64_t total_;
    std::uint64_t done_ = 0;
    std::ostream& out_;
    ProgressStyle style_;
    Clock::time_point start_;
    Clock::time_point last_draw_{};
    std::size_t drawn_width_ = 0;
    bool finished_ = false;
};

}  // namespace greta
