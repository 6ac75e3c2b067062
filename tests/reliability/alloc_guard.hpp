#pragma once
// Guards for loading damaged files inside the test process:
//  - AllocationGuard: while alive, any single allocation above a limit fails the test (the
//    allocation is refused with std::bad_alloc instead of being attempted), and the peak of
//    live heap bytes above the level at construction is recorded. Implemented by replacing
//    the global operator new/delete in this test program (alloc_guard.cpp).
//  - CaseWatchdog: while alive, the process aborts with the case description if it lives
//    longer than a time limit (a hang inside a parser would otherwise only show as the whole
//    test program timing out).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace greta::test {

namespace alloc_stats {
/// Bytes currently allocated through operator new (malloc_usable_size of each block).
std::int64_t live_bytes();
}  // namespace alloc_stats

class AllocationGuard {
public:
    /// Refuses (and records) any single allocation of more than `max_single` bytes.
    explicit AllocationGuard(std::size_t max_single);
    ~AllocationGuard();
    AllocationGuard(const AllocationGuard&) = delete;
    AllocationGuard& operator=(const AllocationGuard&) = delete;

    /// Largest single request refused, or 0 if none was.
    std::size_t refused() const;
    /// Peak of live heap bytes above the level when the guard was made.
    std::int64_t peak_growth() const;
    /// The limit the task sets for a file of `input_bytes`: 4x its size plus 64 MiB.
    static std::size_t limit_for(std::size_t input_bytes) { return 4 * input_bytes + (std::size_t(64) << 20); }
};

class CaseWatchdog {
public:
    CaseWatchdog(std::string description, std::chrono::seconds limit);
    ~CaseWatchdog();
    CaseWatchdog(const CaseWatchdog&) = delete;
    CaseWatchdog& operator=(const CaseWatchdog&) = delete;

private:
    struct Impl;
    Impl* impl_;
};

}  // namespace greta::test
