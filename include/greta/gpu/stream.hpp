#pragma once
/// @file Streams, events (timing) and graphs (capture once, replay many times).

#include <utility>

#include <greta/gpu/runtime.hpp>

namespace greta::gpu {

/// A non-blocking stream.
class Stream {
public:
    Stream() { check(vendor::stream_create(&s_), "create stream"); }
    Stream(Stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Stream& operator=(Stream&&) = delete;
    Stream(const Stream&) = delete;
    ~Stream() {
        if (s_) (void)vendor::stream_destroy(s_);
    }
    stream_t get() const { return s_; }
    void synchronize(const Op& op = "synchronize stream") const { check(vendor::stream_sync(s_), op); }

private:
    stream_t s_ = nullptr;
};

/// An event with timing enabled.
class Event {
public:
    Event() { check(vendor::event_create(&e_), "create event"); }
    Event(Event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
    Event& operator=(Event&&) = delete;
    Event(const Event&) = delete;
    ~Event() {
        if (e_) (void)vendor::event_destroy(e_);
    }
    void record(const Stream& s) { check(vendor::event_record(e_, s.get()), "record event"); }
    void synchronize() { check(vendor::event_sync(e_), "synchronize event"); }
    event_t get() const { return e_; }
    /// Milliseconds between two recorded events (both must have completed).
    static float elapsed_ms(const Event& from, const Event& to) {
        float ms = 0;
        check(vendor::event_elapsed_ms(&ms, from.e_, to.e_), "event elapsed time");
        return ms;
    }

private:
    event_t e_ = nullptr;
};

/// An instantiated graph: everything `body(stream)` enqueued while the stream was captured.
class Graph {
public:
    Graph() = default;
    template <class Body>
    static Graph capture(const Stream& s, Body&& body) {
        check(vendor::begin_capture(s.get()), "begin stream capture");
        try {
            body(s);
        } catch (...) {
            graph_t g = nullptr;
            (void)vendor::end_capture(s.get(), &g);
            if (g) (void)vendor::graph_destroy(g);
            (void)vendor::last_error();
            throw;
        }
        graph_t g = nullptr;
        check(vendor::end_capture(s.get(), &g), "end stream capture");
        Graph out;
        const status_t st = vendor::graph_instantiate(&out.exec_, g);
        (void)vendor::graph_destroy(g);
        check(st, "instantiate graph");
        return out;
    }
    Graph(Graph&& o) noexcept : exec_(std::exchange(o.exec_, nullptr)) {}
    Graph& operator=(Graph&& o) noexcept {
        if (this != &o) {
            reset();
            exec_ = std::exchange(o.exec_, nullptr);
        }
        return *this;
    }
    Graph(const Graph&) = delete;
    ~Graph() { reset(); }
    explicit operator bool() const { return exec_ != nullptr; }
    void launch(const Stream& s) const { check(vendor::graph_launch(exec_, s.get()), "launch graph"); }

private:
    void reset() {
        if (exec_) (void)vendor::graph_exec_destroy(exec_);
        exec_ = nullptr;
    }
    graph_exec_t exec_ = nullptr;
};

}  // namespace greta::gpu
