// Replacement global operator new/delete for the reliability test program (see alloc_guard.hpp).
// Every form of operator new is replaced, so that std::allocator, nlohmann::json and
// aligned allocations all pass through the guard.

#include "alloc_guard.hpp"

#include <malloc.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>

namespace {
std::atomic<std::int64_t> g_live{0};
std::atomic<std::int64_t> g_peak{0};
std::atomic<std::size_t> g_limit{0};  // 0: no guard
std::atomic<std::size_t> g_refused{0};

void* allocate(std::size_t n, std::size_t align, bool nothrow) {
    const std::size_t limit = g_limit.load(std::memory_order_relaxed);
    if (limit != 0 && n > limit) {
        std::size_t prev = g_refused.load(std::memory_order_relaxed);
        while (n > prev && !g_refused.compare_exchange_weak(prev, n)) {
        }
        if (nothrow) return nullptr;
        throw std::bad_alloc();
    }
    if (n == 0) n = 1;
    void* p = align <= alignof(std::max_align_t) ? std::malloc(n)
                                                 : std::aligned_alloc(align, (n + align - 1) / align * align);
    if (!p) {
        if (nothrow) return nullptr;
        throw std::bad_alloc();
    }
    const std::int64_t live = g_live.fetch_add(std::int64_t(malloc_usable_size(p)), std::memory_order_relaxed) +
                              std::int64_t(malloc_usable_size(p));
    std::int64_t peak = g_peak.load(std::memory_order_relaxed);
    while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
    }
    return p;
}

void release(void* p) noexcept {
    if (!p) return;
    g_live.fetch_sub(std::int64_t(malloc_usable_size(p)), std::memory_order_relaxed);
    std::free(p);
}
}  // namespace

void* operator new(std::size_t n) { return allocate(n, 0, false); }
void* operator new[](std::size_t n) { return allocate(n, 0, false); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, 0, true); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, 0, true); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate(n, std::size_t(a), false); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate(n, std::size_t(a), false); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return allocate(n, std::size_t(a), true); }
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return allocate(n, std::size_t(a), true); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }

namespace greta::test {

namespace {
std::int64_t g_baseline = 0;
}

std::int64_t alloc_stats::live_bytes() { return g_live.load(); }

AllocationGuard::AllocationGuard(std::size_t max_single) {
    g_refused = 0;
    g_baseline = g_live.load();
    g_peak = g_baseline;
    g_limit = max_single;
}
AllocationGuard::~AllocationGuard() { g_limit = 0; }
std::size_t AllocationGuard::refused() const { return g_refused.load(); }
std::int64_t AllocationGuard::peak_growth() const { return g_peak.load() - g_baseline; }

struct CaseWatchdog::Impl {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread thread;
};

CaseWatchdog::CaseWatchdog(std::string description, std::chrono::seconds limit) : impl_(new Impl) {
    impl_->thread = std::thread([impl = impl_, description = std::move(description), limit] {
        std::unique_lock lock(impl->m);
        if (!impl->cv.wait_for(lock, limit, [impl] { return impl->done; })) {
            std::fprintf(stderr, "reliability: case '%s' still running after %lld s: a hang; aborting\n",
                         description.c_str(), static_cast<long long>(limit.count()));
            std::abort();
        }
    });
}

CaseWatchdog::~CaseWatchdog() {
    {
        std::lock_guard lock(impl_->m);
        impl_->done = true;
    }
    impl_->cv.notify_one();
    impl_->thread.join();
    delete impl_;
}

}  // namespace greta::test
