#pragma once
/// @file Owning device and pinned-host buffers. Every allocation is counted
/// (gpu::allocation_counter) so tests can prove that a decode step allocates nothing.

#include <cstddef>
#include <utility>

#include <greta/gpu/runtime.hpp>

namespace greta::gpu {

namespace detail {
template <status_t (*Alloc)(void**, std::size_t), status_t (*Free)(void*)>
class OwnedBytes {
public:
    OwnedBytes() = default;
    explicit OwnedBytes(std::size_t bytes, const Op& op = "allocate") : bytes_(bytes) {
        if (bytes == 0) return;
        check(Alloc(&ptr_, bytes), op);
        allocation_counter().fetch_add(1, std::memory_order_relaxed);
    }
    OwnedBytes(OwnedBytes&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
    OwnedBytes& operator=(OwnedBytes&& o) noexcept {
        if (this != &o) {
            release();
            ptr_ = std::exchange(o.ptr_, nullptr);
            bytes_ = std::exchange(o.bytes_, 0);
        }
        return *this;
    }
    OwnedBytes(const OwnedBytes&) = delete;
    OwnedBytes& operator=(const OwnedBytes&) = delete;
    ~OwnedBytes() { release(); }

    void* data() const { return ptr_; }
    template <class T>
    T* as() const { return static_cast<T*>(ptr_); }
    std::size_t size() const { return bytes_; }
    explicit operator bool() const { return ptr_ != nullptr; }

private:
    void release() noexcept {
        if (ptr_) (void)Free(ptr_);  // destructors do not throw; a failed free leaks
        ptr_ = nullptr;
        bytes_ = 0;
    }
    void* ptr_ = nullptr;
    std::size_t bytes_ = 0;
};
}  // namespace detail

/// Device memory (cudaMalloc / hipMalloc).
using DeviceBuffer = detail::OwnedBytes<vendor::malloc_device, vendor::free_device>;
/// Page-locked host memory, needed for asynchronous copies and for copies inside graphs.
using PinnedBuffer = detail::OwnedBytes<vendor::malloc_pinned, vendor::free_pinned>;

}  // namespace greta::gpu
