#pragma once
/// @file ThreadPool: a fixed set of worker threads for data-parallel loops (the CPU backend).

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace greta {

/// Fixed pool of threads for parallel_for. The CPU forward calls it about ten times per layer
/// per token, so a call costs one wake-up and one join, with no allocation: the job is passed
/// as a pointer to the caller's callable plus a trampoline, workers find new work through a
/// generation counter (polling briefly before sleeping on a condition variable).
class ThreadPool {
public:
    /// `threads` counts every thread taking part, the calling thread included (so 1 means no
    /// workers: everything runs on the caller). 0 picks std::thread::hardware_concurrency().
    explicit ThreadPool(std::size_t threads = 0) {
        if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
        size_ = threads;
        workers_.reserve(threads - 1);
        try {
            for (std::size_t w = 1; w < threads; ++w) workers_.emplace_back([this, w] { worker_loop(w); });
        } catch (...) {
            shutdown();
            throw;
        }
    }

    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    ~ThreadPool() { shutdown(); }

    /// Number of threads that run a parallel_for, the caller included.
    std::size_t size() const noexcept { return size_; }

    /// Runs f over [0, n), split into size() contiguous chunks: chunk c is
    /// [n*c/size(), n*(c+1)/size()); the caller runs chunk 0. Blocks until every chunk is done.
    /// f is called either as f(begin, end) once per non-empty chunk, when it accepts two
    /// std::size_t, or as f(i) for every index. If any call throws, the first exception is
    /// rethrown here after all chunks have finished. A parallel_for from inside f (or a call
    /// while another thread's parallel_for runs on this pool) runs serially on the calling
    /// thread instead of deadlocking.
    template <class F>
    void parallel_for(std::size_t n, F&& f) {
        if (n == 0) return;
        auto chunk = [&f](std::size_t begin, std::size_t end) {
            if constexpr (std::is_invocable_v<F&, std::size_t, std::size_t>) {
                f(begin, end);
            } else {
                static_assert(std::is_invocable_v<F&, std::size_t>,
                              "parallel_for needs f(std::size_t i) or f(std::size_t begin, std::size_t end)");
                for (std::size_t i = begin; i < end; ++i) f(i);
            }
        };
        if (size_ == 1 || n == 1 || inside_task() ||
            !busy_.try_lock()) {  // nested or concurrent use: run here, serially
            chunk(0, n);
            return;
        }
        std::lock_guard<std::mutex> own(busy_, std::adopt_lock);
        run_parallel(n, &chunk, &call_chunk<decltype(chunk)>);
    }

private:
    using Trampoline = void (*)(void*, std::size_t, std::size_t);

    template <class Chunk>
    static void call_chunk(void* chunk, std::size_t begin, std::size_t end) {
        (*static_cast<Chunk*>(chunk))(begin, end);
    }

    static bool& inside_task() noexcept {
        thread_local bool inside = false;
        return inside;
    }

    // One poll of a wait loop: a pause instruction for the first polls (the answer usually
    // comes within a microsecond), then yield. Yielding matters when threads outnumber free
    // cores: pure spinning took ~100 us per call with 4 threads on 2 busy cores, yielding ~9 us.
    static void backoff(int poll) noexcept {
        if (poll >= 64) {
            std::this_thread::yield();
            return;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }

    // Polls before blocking on a condition variable (about a millisecond at most): enough to
    // catch the next call of a forward pass without a futex round trip (~1.6 us per call with
    // 2 threads instead of tens of us), short enough to go quiet soon after the work stops.
    static constexpr int spin_polls = 2000;

    void run_chunk(std::size_t index) noexcept {
        const std::size_t begin = job_n_ * index / size_;
        const std::size_t end = job_n_ * (index + 1) / size_;
        if (begin == end) return;
        inside_task() = true;
        try {
            job_fn_(job_ctx_, begin, end);
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!error_) error_ = std::current_exception();
        }
        inside_task() = false;
    }

    void run_parallel(std::size_t n, void* ctx, Trampoline fn) {
        job_n_ = n;
        job_ctx_ = ctx;
        job_fn_ = fn;
        error_ = nullptr;
        // Every worker acknowledges every generation, even with an empty chunk, so none can
        // still be reading this job when the next call overwrites it.
        pending_.store(size_ - 1, std::memory_order_relaxed);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            generation_.fetch_add(1, std::memory_order_release);
        }
        wake_.notify_all();

        run_chunk(0);

        for (int i = 0; i < spin_polls && pending_.load(std::memory_order_acquire) != 0; ++i) backoff(i);
        if (pending_.load(std::memory_order_acquire) != 0) {
            std::unique_lock<std::mutex> lock(mutex_);
            done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
        }
        if (error_) {
            std::exception_ptr e = std::exchange(error_, nullptr);
            std::rethrow_exception(e);
        }
    }

    void worker_loop(std::size_t index) {
        std::uint64_t seen = 0;
        for (;;) {
            std::uint64_t current = generation_.load(std::memory_order_acquire);
            for (int i = 0; i < spin_polls && current == seen && !stop_.load(std::memory_order_relaxed);
                 ++i) {
                backoff(i);
                current = generation_.load(std::memory_order_acquire);
            }
            if (current == seen) {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] {
                    return stop_.load(std::memory_order_relaxed) ||
                           generation_.load(std::memory_order_acquire) != seen;
                });
                current = generation_.load(std::memory_order_acquire);
            }
            if (current == seen) return;  // woken by stop with no job pending
            seen = current;
            run_chunk(index);
            if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                // Lock so the notify cannot slip between the caller's check and its wait.
                std::lock_guard<std::mutex> lock(mutex_);
                done_.notify_one();
            }
        }
    }

    void shutdown() noexcept {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_.store(true, std::memory_order_relaxed);
        }
        wake_.notify_all();
        for (auto& t : workers_)
            if (t.joinable()) t.join();
        workers_.clear();
    }

    std::size_t size_ = 1;
    std::vector<std::thread> workers_;
    std::mutex busy_;  // held by the thread whose parallel_for owns the workers
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::size_t> pending_{0};
    std::atomic<bool> stop_{false};
    // The current job, written before generation_ is bumped (release) and read after it is
    // seen (acquire); unchanged until every worker has acknowledged it through pending_.
    std::size_t job_n_ = 0;
    void* job_ctx_ = nullptr;
    Trampoline job_fn_ = nullptr;
    std::exception_ptr error_;
};

}  // namespace greta
