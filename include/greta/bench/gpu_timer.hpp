#pragma once
/// @file GpuTimer: device-side timing of a stream region with events (the host clock would
/// measure launch queuing, not the work). GPU builds only; empty for host compilers.

#include <greta/core/macros.hpp>

#if GRETA_GPU_COMPILER
#include <greta/gpu/stream.hpp>

namespace greta::bench {

/// Times the work enqueued on a stream between start() and stop().
class GpuTimer {
public:
    void start(const gpu::Stream& s) { begin_.record(s); }
    void stop(const gpu::Stream& s) { end_.record(s); }
    /// Milliseconds between start and stop; waits for stop's event.
    float elapsed_ms() {
        end_.synchronize();
        return gpu::Event::elapsed_ms(begin_, end_);
    }

private:
    gpu::Event begin_, end_;
};

}  // namespace greta::bench
#endif  // GRETA_GPU_COMPILER
