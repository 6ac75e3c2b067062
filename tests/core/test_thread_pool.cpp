#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <algorithm>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <greta/core/thread_pool.hpp>

TEST_CASE("default pool size is the hardware concurrency", "[core][thread_pool]") {
    greta::ThreadPool pool;
    CHECK(pool.size() == std::max(1u, std::thread::hardware_concurrency()));
    CHECK(greta::ThreadPool(3).size() == 3);
}

TEST_CASE("parallel_for visits every index exactly once", "[core][thread_pool]") {
    const std::size_t threads = GENERATE(1, 2, 3, 4, 7);
    greta::ThreadPool pool(threads);
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{2}, threads - 1, threads, threads + 1,
                          std::size_t{1000}, std::size_t{100003}}) {
        CAPTURE(threads, n);
        std::vector<std::atomic<int>> visits(n);
        pool.parallel_for(n, [&](std::size_t i) { visits[i].fetch_add(1, std::memory_order_relaxed); });
        std::size_t wrong = 0;
        for (auto& v : visits) wrong += v.load() != 1;
        CHECK(wrong == 0);
    }
}

TEST_CASE("chunked parallel_for gives contiguous, disjoint chunks covering [0, n)", "[core][thread_pool]") {
    greta::ThreadPool pool(4);
    for (std::size_t n : {std::size_t{1}, std::size_t{3}, std::size_t{4}, std::size_t{5}, std::size_t{999}}) {
        CAPTURE(n);
        std::mutex m;
        std::vector<std::pair<std::size_t, std::size_t>> chunks;
        std::vector<std::thread::id> runners;
        pool.parallel_for(n, [&](std::size_t begin, std::size_t end) {
            std::lock_guard<std::mutex> lock(m);
            chunks.emplace_back(begin, end);
            runners.push_back(std::this_thread::get_id());
        });
        std::sort(chunks.begin(), chunks.end());
        REQUIRE(!chunks.empty());
        CHECK(chunks.size() <= std::min<std::size_t>(n, pool.size()));
        CHECK(chunks.front().first == 0);
        CHECK(chunks.back().second == n);
        for (std::size_t c = 0; c < chunks.size(); ++c) {
            CHECK(chunks[c].first < chunks[c].second);
            if (c > 0) CHECK(chunks[c].first == chunks[c - 1].second);
        }
        // Balanced: sizes differ by at most one.
        std::size_t lo = n, hi = 0;
        for (auto [b, e] : chunks) lo = std::min(lo, e - b), hi = std::max(hi, e - b);
        if (n >= pool.size()) CHECK(hi - lo <= 1);
        const std::set<std::thread::id> distinct(runners.begin(), runners.end());
        if (n >= pool.size()) CHECK(distinct.size() == pool.size());
    }
}

TEST_CASE("an exception in a task reaches the caller and the pool stays usable", "[core][thread_pool]") {
    greta::ThreadPool pool(4);
    const std::size_t throwing_index = GENERATE(0, 5, 999);  // caller's chunk and workers' chunks
    CAPTURE(throwing_index);
    std::atomic<std::size_t> ran{0};
    CHECK_THROWS_AS(pool.parallel_for(1000,
                                      [&](std::size_t i) {
                                          if (i == throwing_index) throw std::runtime_error("task failed");
                                          ran.fetch_add(1);
                                      }),
                    std::runtime_error);
    CHECK(ran.load() < 1000);
    std::atomic<std::size_t> sum{0};
    pool.parallel_for(100, [&](std::size_t i) { sum.fetch_add(i); });
    CHECK(sum.load() == 4950);
}

TEST_CASE("the pool can be reused for many small calls", "[core][thread_pool]") {
    greta::ThreadPool pool(4);
    std::vector<std::uint64_t> out(64, 0);
    for (int call = 0; call < 10000; ++call)
        pool.parallel_for(out.size(), [&](std::size_t i) { out[i] += i + static_cast<std::size_t>(call); });
    // Sum over calls c of (i + c) = 10000 i + 10000 * 9999 / 2.
    for (std::size_t i = 0; i < out.size(); ++i) {
        CAPTURE(i);
        CHECK(out[i] == 10000 * i + 49995000);
    }
}

TEST_CASE("nested and concurrent parallel_for run without deadlock", "[core][thread_pool]") {
    greta::ThreadPool pool(3);
    std::atomic<std::size_t> inner{0};
    pool.parallel_for(6, [&](std::size_t) {
        pool.parallel_for(10, [&](std::size_t) { inner.fetch_add(1); });
    });
    CHECK(inner.load() == 60);

    std::atomic<std::size_t> total{0};
    std::thread other([&] {
        for (int k = 0; k < 500; ++k) pool.parallel_for(50, [&](std::size_t) { total.fetch_add(1); });
    });
    for (int k = 0; k < 500; ++k) pool.parallel_for(50, [&](std::size_t) { total.fetch_add(1); });
    other.join();
    CHECK(total.load() == 2 * 500 * 50);
}
