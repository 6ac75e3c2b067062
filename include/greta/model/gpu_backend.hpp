#pragma once
/// @file GpuBackend<Arch>: decode on one GPU (CUDA sm_90 or HIP gfx942).
///
/// Memory is planned once: every weight matrix is repacked into the device layout of
/// kernels/formats.hpp (still quantized) inside one allocation, the FP16 KV cache covers the
/// whole context, and one workspace holds every activation. A decode step allocates nothing
/// (gpu::allocation_counter proves it) and is captured once into a graph whose inputs (token,
/// position) are copied from pinned host memory by the graph itself, so each step is one graph
/// launch plus one 4-byte copy back of the greedy token.
///
/// Kernels per layer: [RMSNorm + Q,K,V GEMV + RoPE + KV store] -> attention -> [O GEMV +
/// residual] -> [RMSNorm + gate/up GEMV + SwiGLU] -> [down GEMV + residual]; then [RMSNorm +
/// lm_head GEMV + argmax]. On Hopper each kernel may start while its predecessor drains
/// (programmatic dependent launch): it issues its weight loads, then waits for the producer.
///
/// Prompts of at least `prefill_min_tokens` tokens take the prefill path instead: chunks of up
/// to kPrefillChunk tokens go through matrix-core GEMMs (kernels/gemm.hpp; RMSNorm and the fp16
/// packing of activations in one small kernel before each), causal flash attention over the
/// cache (kernels/prefill_attention.hpp), with K/V written into the cache by the K/V GEMMs;
/// only the last position's logits are computed unless every position's are asked for.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <greta/arch/arch.hpp>
#include <greta/core/error.hpp>
#include <greta/core/progress.hpp>
#include <greta/core/thread_pool.hpp>
#include <greta/gpu/launch.hpp>
#include <greta/gpu/memory.hpp>
#include <greta/gpu/stream.hpp>
#include <greta/kernels/attention.hpp>
#include <greta/kernels/dequant_rows.hpp>
#include <greta/kernels/embed.hpp>
#include <greta/kernels/formats.hpp>
#include <greta/kernels/gemm.hpp>
#include <greta/kernels/gemm_tma_sm90.hpp>
#include <greta/kernels/gemv.hpp>
#include <greta/kernels/pack_activations.hpp>
#include <greta/kernels/prefill_attention.hpp>
#include <greta/kernels/rope.hpp>
#include <greta/model/backend.hpp>
#include <greta/model/weights.hpp>
#include <greta/quant/row.hpp>

namespace greta::model {

struct GpuBackendOptions {
    std::uint32_t context = 0;      ///< KV positions; 0 = the model's max_context
    bool use_graph = true;          ///< capture the decode step once and replay it
    bool progress = true;           ///< upload progress bar on stderr
    bool overlap_launches = true;   ///< programmatic dependent launch (Hopper only)
    bool profile = false;           ///< time every launch (also GRETA_GPU_TRACE=1); see profile()
    /// forward() calls with at least this many tokens use the matrix-core prefill path; 0 never.
    /// The default is where the GEMM pass overtakes token-by-token decode on the H100 for the
    /// 7B shapes: a Q4_K_M pass costs ~16 ms up to 64 tokens (fp16 rows on TMA), a decode step
    /// ~2 ms; at 8 tokens they tie (docs/BENCHMARKS.md, "prefill threshold").
    std::uint32_t prefill_min_tokens = 9;
    /// Quantized prefill GEMMs on Hopper: dequantize each matrix to fp16 rows, then the F16
    /// TMA + wgmma GEMM (rather than the mma.sync kernel that dequantizes as it multiplies).
    /// GRETA_PREFILL_DEQUANT=0/1 overrides.
    bool prefill_dequant = true;
    /// Q4_K_M's mixed-format Q/K/V launch (Q/K in Q4_K, V in Q6_K): persistent blocks split
    /// between the two formats, rather than one row group per block.
    bool qkv_persistent = true;
    /// Decode producers hand their output to the next GEMV as an fp16 image ready to copy
    /// (kernels/x_image.hpp; sm_90 tensor-core Q4_K/Q6_K GEMVs). GRETA_X_IMAGE=0/1 overrides.
    bool x_image = true;
};

/// One launch kind of the decode step, averaged over the profiled steps.
struct GpuProfileRow {
    std::string launch;            ///< e.g. "qkv", "attention", "gate+up", "lm_head"
    int per_step = 0;              ///< launches of this kind in one step
    double busy_us = 0;            ///< summed kernel time per step, after its inputs were ready
    double gap_us = 0;             ///< producer end -> this kernel running, summed per step
    double bytes = 0;              ///< device-memory bytes read per step (weights; KV for attention)
};

template <class Arch>
class GpuBackend final : public Backend {
public:
    GpuBackend(const ModelWeights& w, GpuBackendOptions opt = {}) : cfg_(w.cfg), opt_(opt) {
        context_ = opt.context ? opt.context : cfg_.max_context;
        check(context_ > 0, [] { return std::string("context length must be positive"); });
        check(kernels::attention_head_dim_supported(cfg_.head_dim),
              [&] { return "no GPU attention kernel for head_dim " + std::to_string(cfg_.head_dim); });
        overlap_ = opt.overlap_launches && std::is_same_v<Arch, arch::Sm90>;
        plan_and_upload(w);
        allocate_state();
        if (opt.profile || std::getenv("GRETA_GPU_TRACE")) {
            // Profiling hook: a timeline per launch, summed over steps, printed at destruction.
            const std::size_t max_launches = 4 + std::size_t(cfg_.n_layers) * 8;
            trace_buf_ = gpu::DeviceBuffer(max_launches * 3 * 8, "allocate trace");
        }
        build_step();
    }
    ~GpuBackend() override {
        if (trace_steps_ > 0 && !opt_.profile) print_trace();
    }

    /// Per-launch-kind timings of the decode steps run since construction (needs
    /// options.profile). Attention bytes count the K and V rows read at the average position.
    std::vector<GpuProfileRow> profile() const {
        std::vector<GpuProfileRow> rows;
        if (trace_steps_ == 0) return rows;
        const double avg_positions = double(trace_pos_sum_) / double(trace_steps_) + 1.0;
        for (std::size_t i = 0; i < labels_.size(); ++i) {
            auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.launch == labels_[i]; });
            if (it == rows.end()) it = rows.insert(rows.end(), GpuProfileRow{labels_[i]});
            it->per_step += 1;
            it->busy_us += trace_sum_[3 * i] / trace_steps_ / 1e3;
            it->gap_us += trace_sum_[3 * i + 1] / trace_steps_ / 1e3;
            it->bytes += labels_[i] == "attention" ? 2.0 * 2.0 * cfg_.kv_dim() * avg_positions : double(launch_bytes_[i]);
        }
        return rows;
    }

    std::string_view name() const override { return "gpu"; }
    const ModelConfig& config() const override { return cfg_; }
    std::uint32_t context_length() const override { return context_; }

    void forward(std::span<const std::int32_t> tokens, std::uint32_t pos, float* logits, bool all_positions) override {
        check(!tokens.empty(), [] { return std::string("forward() needs at least one token"); });
        if (uses_prefill(tokens.size())) {
            prefill(tokens, pos, logits, all_positions);
            return;
        }
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            run_step(tokens[i], pos + std::uint32_t(i));
            if (all_positions || i + 1 == tokens.size()) {
                gpu::check(gpu::vendor::memcpy_d2h_async(host_logits_.data(), logits_dev_, std::size_t(cfg_.vocab_size) * 4,
                                                         stream_.get()),
                           "copy logits to host");
                stream_.synchronize("decode step");
                float* dst = logits + (all_positions ? i * std::size_t(cfg_.vocab_size) : 0);
                std::memcpy(dst, host_logits_.data(), std::size_t(cfg_.vocab_size) * 4);
            } else {
                stream_.synchronize("decode step");
            }
            collect_trace();
        }
        if (capture_) {  // the buffer holds the last evaluated position's residual stream
            std::vector<float> all(std::size_t(cfg_.n_layers) * cfg_.dim);
            gpu::check(gpu::vendor::memcpy_d2h_async(all.data(), capture_buf_.data(), all.size() * 4, stream_.get()),
                       "copy hidden states");
            stream_.synchronize("copy hidden states");
            hidden_.assign(cfg_.n_layers, {});
            for (std::uint32_t l = 0; l < cfg_.n_layers; ++l)
                hidden_[l].assign(all.begin() + std::ptrdiff_t(l) * cfg_.dim, all.begin() + std::ptrdiff_t(l + 1) * cfg_.dim);
        }
    }

    /// Validation: copies the residual stream after every layer (n_layers entries; the final
    /// norm is fused into lm_head and is not captured). Rebuilds the step, and the graph.
    void capture_hidden(bool on) override {
        if (on == capture_) return;
        capture_ = on;
        if (on && !capture_buf_)
            capture_buf_ = gpu::DeviceBuffer(std::size_t(cfg_.n_layers) * cfg_.dim * 4, "allocate hidden-state capture");
        graph_ = gpu::Graph{};
        chain_graph_ = gpu::Graph{};
        build_step();
    }
    std::vector<std::vector<float>> hidden_states() const override { return hidden_; }

    std::int32_t decode_greedy(std::int32_t token, std::uint32_t pos) override {
        run_step(token, pos);
        stream_.synchronize("decode step");
        collect_trace();
        return host_io()[2];
    }

    /// Steps chained on the device: step i + 1 is queued before step i's token is handed to
    /// on_token, and takes that token from device memory, so the GPU does not wait for the host
    /// between steps. With the per-launch trace on, steps run one at a time (each is read back).
    std::size_t decode_greedy_run(std::int32_t token, std::uint32_t pos, std::size_t n,
                                  const std::function<bool(std::int32_t)>& on_token) override {
        if (n == 0) return 0;
        check(std::uint64_t(pos) + n <= context_, [&] {
            return "positions " + std::to_string(pos) + ".." + std::to_string(std::uint64_t(pos) + n - 1) +
                   " are outside the context of " + std::to_string(context_);
        });
        if (trace_buf_) return Backend::decode_greedy_run(token, pos, n, on_token);
        run_step(token, pos);  // from the host; like every step it leaves the next one's input on the device
        step_done_[0].record(stream_);
        const volatile std::int32_t* ring = token_ring_.as<std::int32_t>();
        std::size_t done = 0;
        while (done < n) {
            if (done + 1 < n) {
                run_chained_step();
                step_done_[(done + 1) % 2].record(stream_);
            }
            step_done_[done % 2].synchronize();
            const std::int32_t next = ring[(pos + done) % kTokenRing];
            ++done;
            if (!on_token(next)) break;
        }
        stream_.synchronize("decode steps");  // a step queued past a stop is left to finish
        return done;
    }

    /// Whether forward() of n tokens takes the matrix-core prefill path (hidden-state capture
    /// for validation keeps the decode path, whose per-layer states it compares).
    bool uses_prefill(std::size_t n) const {
        return opt_.prefill_min_tokens > 0 && n >= opt_.prefill_min_tokens && !capture_;
    }
    /// Turns graph replay on or off (off: every kernel is launched on each step).
    void set_use_graph(bool on) { opt_.use_graph = on; }
    bool uses_graph() const { return opt_.use_graph; }
    /// Bytes of weights one decode step reads from device memory (every matrix once, one row of
    /// the embedding), for bandwidth reports.
    std::uint64_t weight_bytes_per_step() const { return step_weight_bytes_; }
    /// Bytes of weights resident on the device.
    std::uint64_t weight_bytes_resident() const { return weights_.size(); }
    /// Kernel launches in one decode step.
    std::size_t kernels_per_step() const { return step_.size(); }
    const gpu::Stream& stream() const { return stream_; }

private:
    // ---- weights ----
    struct Mat {
        kernels::DeviceMatrix dev;
        const TensorView* src = nullptr;
        std::vector<std::uint32_t> row_map;  // RotateHalf q/k rows -> adjacent pairs
        std::uint64_t payload_off = 0, meta_off = 0, aux_off = 0;
    };
    struct Layer {
        Mat wq, wk, wv, wo, gate, up, down;
        std::uint64_t attn_norm_off = 0, ffn_norm_off = 0;
        const float* attn_norm = nullptr;
        const float* ffn_norm = nullptr;
    };

    static std::uint64_t align256(std::uint64_t v) { return (v + 255) & ~std::uint64_t(255); }
    static constexpr std::uint32_t kAttnMinChunk = 128;

    /// Whether matrix `name` (q, k, v, o, gate, up, down) of weight type `t` interleaves its rows
    /// in groups (formats.hpp). By default the Q4_K and Q8_0 matrices of the register-fed GEMVs
    /// (Q/K/V, O, gate/up), which read faster so (O: +0.15-0.3% tg128, seventh session); down and
    /// lm_head, and Q6_K (staged through cp.async), read slower so (H100, docs/BENCHMARKS.md).
    /// GRETA_GROUPED_ROWS="q,k,o,..." overrides the list of names, for measurements; "q6_k" in it
    /// lets Q6_K matrices group too.
    static kernels::RowOrder row_order(std::string_view name, DType t) {
        std::string list = "q,k,v,o,gate,up";
        if (const char* env = std::getenv("GRETA_GROUPED_ROWS")) list = env;
        auto listed = [&](std::string_view w) {
            for (std::size_t at = 0; at <= list.size();) {
                const std::size_t end = std::min(list.find(',', at), list.size());
                if (std::string_view(list).substr(at, end - at) == w) return true;
                at = end + 1;
            }
            return false;
        };
        const bool format_ok = t == DType::Q4_K || t == DType::Q8_0 || (t == DType::Q6_K && listed("q6_k"));
        return format_ok && listed(name) ? kernels::RowOrder::Grouped : kernels::RowOrder::Plain;
    }

    void plan_matrix(Mat& m, const TensorView& t, std::uint64_t& offset, bool rope_rows,
                     kernels::RowOrder order = kernels::RowOrder::Plain) {
        m.src = &t;
        m.dev.layout = kernels::matrix_layout(t.type, t.rows(), t.cols(), order);
        if (rope_rows && rope_style_ == RopeStyle::RotateHalf) {
            // Attention scores are invariant under one permutation of q and k within each head:
            // storing rows (i, i + hd/2) adjacently turns rotate-half RoPE into adjacent pairs.
            const std::uint32_t hd = cfg_.head_dim;
            m.row_map.resize(m.dev.layout.rows);
            for (std::uint32_t r = 0; r < m.dev.layout.rows; ++r) {
                const std::uint32_t head = r / hd, i = (r % hd) / 2;
                m.row_map[r] = head * hd + ((r % 2) ? i + hd / 2 : i);
            }
        }
        m.payload_off = offset;
        offset = align256(offset + m.dev.layout.payload_bytes());
        m.meta_off = offset;
        offset = align256(offset + m.dev.layout.meta_bytes());
        m.aux_off = offset;
        offset = align256(offset + m.dev.layout.aux_bytes());
    }

    void plan_and_upload(const ModelWeights& w) {
        rope_style_ = w.rope_style;
        std::uint64_t off = 0;
        std::vector<std::pair<const TensorView*, std::uint64_t*>> norms;
        plan_matrix(embd_, w.tok_embd, off, false);
        tied_ = w.output.data == w.tok_embd.data && w.output.type == w.tok_embd.type;
        if (!tied_) plan_matrix(output_, w.output, off, false);
        out_norm_off_ = off;
        off = align256(off + std::uint64_t(cfg_.dim) * 4);
        layers_.resize(cfg_.n_layers);
        for (std::uint32_t l = 0; l < cfg_.n_layers; ++l) {
            const LayerWeights& lw = w.layers[l];
            Layer& L = layers_[l];
            plan_matrix(L.wq, lw.wq, off, true, row_order("q", lw.wq.type));
            plan_matrix(L.wk, lw.wk, off, true, row_order("k", lw.wk.type));
            plan_matrix(L.wv, lw.wv, off, false, row_order("v", lw.wv.type));
            plan_matrix(L.wo, lw.wo, off, false, row_order("o", lw.wo.type));
            plan_matrix(L.gate, lw.w_gate, off, false, row_order("gate", lw.w_gate.type));
            plan_matrix(L.up, lw.w_up, off, false, row_order("up", lw.w_up.type));
            plan_matrix(L.down, lw.w_down, off, false, row_order("down", lw.w_down.type));
            L.attn_norm_off = off;
            off = align256(off + std::uint64_t(cfg_.dim) * 4);
            L.ffn_norm_off = off;
            off = align256(off + std::uint64_t(cfg_.dim) * 4);
        }
        {  // Refuse before allocating or copying anything when the weights or the KV cache cannot fit.
            std::size_t free_b = 0, total_b = 0;
            const std::uint64_t kv_bytes = std::uint64_t(cfg_.n_layers) * context_ * cfg_.kv_dim() * 4;  // K+V, FP16
            if (gpu::vendor::mem_info(&free_b, &total_b) == gpu::success) {
                check(off < free_b, [&] {
                    return "the model's weights need " + format_bytes(double(off)) + " of device memory, the device has " +
                           format_bytes(double(free_b)) + " free";
                });
                check(off + kv_bytes < free_b, [&] {
                    return "the KV cache for a context of " + std::to_string(context_) + " positions needs " +
                           format_bytes(double(kv_bytes)) + " beside " + format_bytes(double(off)) +
                           " of weights, the device has " + format_bytes(double(free_b)) + " free; lower the context (-c)";
                });
            }
        }
        weights_ = gpu::DeviceBuffer(off, "allocate weights");
        auto* base = weights_.as<std::byte>();
        auto bind = [&](Mat& m) {
            m.dev.payload = base + m.payload_off;
            m.dev.meta = base + m.meta_off;
            m.dev.aux = base + m.aux_off;
        };
        bind(embd_);
        if (tied_) output_ = embd_;
        else bind(output_);
        out_norm_ = reinterpret_cast<const float*>(base + out_norm_off_);
        for (auto& L : layers_) {
            for (Mat* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) bind(*m);
            L.attn_norm = reinterpret_cast<const float*>(base + L.attn_norm_off);
            L.ffn_norm = reinterpret_cast<const float*>(base + L.ffn_norm_off);
        }

        // Bytes a step reads: all matrices, the norms, one embedding row.
        step_weight_bytes_ = (tied_ ? embd_.dev.layout.total_bytes() : output_.dev.layout.total_bytes()) +
                             embd_.dev.layout.total_bytes() / embd_.dev.layout.rows +
                             std::uint64_t(cfg_.dim) * 4 * (2 * cfg_.n_layers + 1);
        for (auto& L : layers_)
            for (Mat* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) step_weight_bytes_ += m->dev.layout.total_bytes();

        upload(w);
    }

    void upload(const ModelWeights& w) {
        std::vector<Mat*> mats{&embd_};
        if (!tied_) mats.push_back(&output_);
        for (auto& L : layers_)
            for (Mat* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) mats.push_back(m);
        std::uint64_t total = 0;
        for (Mat* m : mats) total += m->dev.layout.total_bytes();

        const std::size_t hw = std::max(1u, std::thread::hardware_concurrency());
        ThreadPool pool(std::min<std::size_t>(hw, 16));
        constexpr std::uint64_t chunk_bytes = 64ull << 20;
        gpu::PinnedBuffer staging[2] = {gpu::PinnedBuffer(chunk_bytes, "allocate upload staging"),
                                        gpu::PinnedBuffer(chunk_bytes, "allocate upload staging")};
        gpu::Event done[2];
        bool in_use[2] = {false, false};
        int which = 0;
        std::unique_ptr<ProgressBar> bar;
        if (opt_.progress)
            bar = std::make_unique<ProgressBar>("uploading weights", total, std::cerr, default_progress_style());
        auto* base = weights_.as<std::byte>();

        for (Mat* m : mats) {
            const kernels::MatrixLayout& L = m->dev.layout;
            const std::uint64_t row_bytes = L.payload_row_bytes() + L.meta_row_bytes() + L.aux_row_bytes();
            // Whole row groups per chunk: a group's rows are interleaved (formats.hpp).
            const std::uint64_t group = L.group_rows;
            const std::uint64_t rows_per_chunk = std::max<std::uint64_t>(1, chunk_bytes / (row_bytes * group)) * group;
            check(row_bytes * group <= chunk_bytes, [&] { return std::string("matrix row too large to upload"); },
                  {{}, {}, m->src->name});
            for (std::uint64_t r0 = 0; r0 < L.rows; r0 += rows_per_chunk) {
                const std::uint64_t r1 = std::min<std::uint64_t>(L.rows, r0 + rows_per_chunk), n = r1 - r0;
                if (in_use[which]) done[which].synchronize();
                std::byte* st = staging[which].as<std::byte>();
                std::byte* sp = st;
                std::byte* sm = st + n * L.payload_row_bytes();
                std::byte* sa = sm + n * L.meta_row_bytes();
                const std::uint32_t* map = m->row_map.empty() ? nullptr : m->row_map.data();
                pool.parallel_for(n, [&](std::size_t b, std::size_t e) {
                    kernels::repack_rows(*m->src, L, r0 + b, r0 + e, sp, sm, sa, map, r0);
                });
                auto copy = [&](std::uint64_t dev_off, const std::byte* src, std::uint64_t bytes) {
                    if (bytes)
                        gpu::check(gpu::vendor::memcpy_h2d_async(base + dev_off, src, bytes, stream_.get()), "upload weights");
                };
                copy(m->payload_off + r0 * L.payload_row_bytes(), sp, n * L.payload_row_bytes());
                copy(m->meta_off + r0 * L.meta_row_bytes(), sm, n * L.meta_row_bytes());
                copy(m->aux_off + r0 * L.aux_row_bytes(), sa, n * L.aux_row_bytes());
                done[which].record(stream_);
                in_use[which] = true;
                which ^= 1;
                if (bar) bar->advance(n * row_bytes);
            }
        }
        // Norm weights as FP32.
        std::vector<float> tmp(cfg_.dim);
        auto put_norm = [&](const TensorView& t, std::uint64_t off) {
            quant::dequantize_row(t.type, t.data, tmp.data(), cfg_.dim);
            gpu::check(gpu::vendor::memcpy_h2d_async(base + off, tmp.data(), std::size_t(cfg_.dim) * 4, stream_.get()),
                       "upload norm weights");
            stream_.synchronize("upload norm weights");
        };
        put_norm(w.output_norm, out_norm_off_);
        for (std::uint32_t l = 0; l < cfg_.n_layers; ++l) {
            put_norm(w.layers[l].attn_norm, layers_[l].attn_norm_off);
            put_norm(w.layers[l].ffn_norm, layers_[l].ffn_norm_off);
        }
        stream_.synchronize("upload weights");
        if (bar) bar->finish();
    }

    // ---- state: KV cache and workspace ----
    void allocate_state() {
        const std::uint64_t kv_elems = std::uint64_t(cfg_.n_layers) * context_ * cfg_.kv_dim();
        std::size_t free_b = 0, total_b = 0;
        if (gpu::vendor::mem_info(&free_b, &total_b) == gpu::success)
            check(kv_elems * 4 < free_b, [&] {
                return "KV cache for " + std::to_string(context_) + " positions needs " + format_bytes(double(kv_elems * 4)) +
                       ", the device has " + format_bytes(double(free_b)) + " free; lower the context";
            });
        kv_ = gpu::DeviceBuffer(kv_elems * 4, "allocate KV cache");
        gpu::check(gpu::vendor::memset_async(kv_.data(), 0, kv_.size(), stream_.get()), "clear KV cache");

        // Splits of at least 128 positions: one block per head up to 128 cached positions (no
        // merge pass), up to 32 splits for long contexts.
        attn_splits_ = std::clamp<std::uint32_t>((context_ + kAttnMinChunk - 1) / kAttnMinChunk, 1, 32);
        attn_max_chunk_ = std::max<std::uint32_t>(kAttnMinChunk, (context_ + attn_splits_ - 1) / attn_splits_);
        lm_blocks_ = 0;
        kernels::dispatch_format(output_.dev.layout.type, [&]<DType T>() {
            // The most blocks any tuning of the lm_head launch can use: one row tile per block.
            lm_blocks_ = (cfg_.vocab_size + kernels::GemvPolicy<Arch, T>::tile_rows - 1) / kernels::GemvPolicy<Arch, T>::tile_rows;
        });

        std::uint64_t off = 0;
        auto take = [&](std::uint64_t bytes) {
            const std::uint64_t at = off;
            off = align256(off + bytes);
            return at;
        };
        const std::uint64_t o_x = take(std::uint64_t(cfg_.dim) * 4), o_q = take(std::uint64_t(cfg_.q_dim()) * 4),
                            o_att = take(std::uint64_t(cfg_.q_dim()) * 4), o_h = take(std::uint64_t(cfg_.ffn_dim) * 4),
                            o_g = take(std::uint64_t(cfg_.ffn_dim) * 4), o_logits = take(std::uint64_t(cfg_.vocab_size) * 4),
                            o_part = take(std::uint64_t(cfg_.n_heads) * attn_splits_ * (cfg_.head_dim + 2) * 4),
                            o_cnt = take(std::uint64_t(cfg_.n_heads) * 4 + 4), o_av = take(std::uint64_t(lm_blocks_) * 4),
                            o_ai = take(std::uint64_t(lm_blocks_) * 4), o_io = take(16),
                            o_ximg = take(std::uint64_t(cfg_.dim) * 2), o_attimg = take(std::uint64_t(cfg_.q_dim()) * 2),
                            o_himg = take(std::uint64_t(cfg_.ffn_dim) * 2),
                            o_parts = take(std::uint64_t((cfg_.dim + kernels::x_parts_rows - 1) / kernels::x_parts_rows) * 4);
        work_ = gpu::DeviceBuffer(off, "allocate workspace");
        gpu::check(gpu::vendor::memset_async(work_.data(), 0, work_.size(), stream_.get()), "clear workspace");
        auto* b = work_.as<std::byte>();
        x_ = reinterpret_cast<float*>(b + o_x);
        q_ = reinterpret_cast<float*>(b + o_q);
        att_ = reinterpret_cast<float*>(b + o_att);
        h_ = reinterpret_cast<float*>(b + o_h);
        gtmp_ = reinterpret_cast<float*>(b + o_g);
        logits_dev_ = reinterpret_cast<float*>(b + o_logits);
        attn_part_ = reinterpret_cast<float*>(b + o_part);
        attn_cnt_ = reinterpret_cast<std::uint32_t*>(b + o_cnt);
        lm_cnt_ = attn_cnt_ + cfg_.n_heads;
        arg_val_ = reinterpret_cast<float*>(b + o_av);
        arg_idx_ = reinterpret_cast<std::int32_t*>(b + o_ai);
        io_dev_ = reinterpret_cast<std::int32_t*>(b + o_io);  // [0] token, [1] pos, [2] greedy token
        x_img_ = reinterpret_cast<std::uint16_t*>(b + o_ximg);
        att_img_ = reinterpret_cast<std::uint16_t*>(b + o_attimg);
        h_img_ = reinterpret_cast<std::uint16_t*>(b + o_himg);
        x_parts_ = reinterpret_cast<float*>(b + o_parts);
        io_host_ = gpu::PinnedBuffer(16, "allocate pinned io");
        token_ring_ = gpu::PinnedBuffer(kTokenRing * 4, "allocate pinned token ring");
        void* ring_dev = nullptr;
        gpu::check(gpu::vendor::pinned_device_pointer(&ring_dev, token_ring_.data()), "map the token ring for the device");
        token_ring_dev_ = static_cast<std::int32_t*>(ring_dev);
        const auto table = kernels::rope_table(context_, cfg_.head_dim, cfg_.rope_theta);
        rope_ = gpu::DeviceBuffer(table.size() * 4, "allocate RoPE table");
        gpu::check(gpu::vendor::memcpy_h2d_async(rope_.data(), table.data(), table.size() * 4, stream_.get()),
                   "upload RoPE table");
        host_logits_.resize(cfg_.vocab_size);
        allocate_prefill();
        stream_.synchronize("clear state");
    }

    // ---- prefill: workspace for one chunk of a prompt ----
    static constexpr std::uint32_t kPrefillChunk = 512;

    void allocate_prefill() {
        pf_chunk_ = std::min(context_, kPrefillChunk);
        const std::uint64_t n = pf_chunk_;
        const bool split_ffn = std::any_of(layers_.begin(), layers_.end(),
                                           [](const Layer& L) { return L.gate.dev.layout.type != L.up.dev.layout.type; });
        const std::uint64_t packed_halves = std::max({kernels::packed_row_halves(cfg_.dim), kernels::packed_row_halves(cfg_.q_dim()),
                                                      kernels::packed_row_halves(cfg_.ffn_dim)});
        std::uint64_t off = 0;
        auto take = [&](std::uint64_t bytes) {
            const std::uint64_t at = off;
            off = align256(off + bytes);
            return at;
        };
        const std::uint64_t o_tok = take(n * 4), o_x = take(n * cfg_.dim * 4), o_pack = take(n * packed_halves * 2),
                            o_pack2 = take(n * packed_halves * 2),
                            o_q = take(n * cfg_.q_dim() * 4), o_att = take(n * cfg_.q_dim() * 4),
                            o_h = take(n * cfg_.ffn_dim * 4), o_g = take(split_ffn ? n * cfg_.ffn_dim * 4 : 0);
        pf_work_ = gpu::DeviceBuffer(off, "allocate prefill workspace");
        auto* b = pf_work_.as<std::byte>();
        pf_tokens_ = reinterpret_cast<std::int32_t*>(b + o_tok);
        pf_x_ = reinterpret_cast<float*>(b + o_x);
        pf_packed_ = reinterpret_cast<std::uint16_t*>(b + o_pack);
        pf_packed_out_ = reinterpret_cast<std::uint16_t*>(b + o_pack2);
        pf_q_ = reinterpret_cast<float*>(b + o_q);
        pf_att_ = reinterpret_cast<float*>(b + o_att);
        pf_h_ = reinterpret_cast<float*>(b + o_h);
        pf_g_ = reinterpret_cast<float*>(b + o_g);
        pf_tokens_host_ = gpu::PinnedBuffer(n * 4, "allocate pinned prompt tokens");
        build_tma_maps();
    }

    /// Packs `rows` rows of `src` (K values each, optionally RMS-normalized) for the GEMM of
    /// `consumer` into the one packed buffer, unless it already holds exactly that.
    const std::uint16_t* pack_for(const Mat& consumer, const float* src, std::uint32_t k, const float* norm,
                                  std::uint32_t rows) {
        const DType t = consumer.dev.layout.type;
        const bool natural = on_tma(consumer);
        const PackedKey key{t, natural, src, norm, k, rows};
        if (!(key == packed_key_)) {
            kernels::PackArgs p;
            p.x = src;
            p.x_stride = k;
            p.k = k;
            p.norm = norm;
            p.eps = cfg_.norm_eps;
            p.out = pf_packed_;
            p.natural = natural;
            kernels::dispatch_format(t, [&]<DType T>() { kernels::pack_activations_launch<Arch, T>(stream_, p, rows); });
            packed_key_ = key;
        }
        return pf_packed_;
    }
    /// Whether the prefill GEMM of w runs on TMA + wgmma: F16 weights as they are, quantized
    /// ones dequantized to fp16 rows first (not lm_head: its rows would double the scratch).
    bool on_tma(const Mat& w) const {
        return tma_ && (w.dev.layout.type == DType::F16 || (dequant_rows_ && &w != &output_));
    }
    /// Bytes of w as fp16 rows in the dequantization scratch (0: F16 weights are read in place).
    static std::uint64_t fp16_rows_bytes(const Mat& w) {
        const auto& l = w.dev.layout;
        return l.type == DType::F16 ? 0 : std::uint64_t(l.rows) * l.nsb * kernels::kSbValues * 2;
    }
    /// The scratch's fp16 rows of w at byte `offset`, dequantized on stream_; F16 w as it is.
    kernels::DeviceMatrix fp16_rows(const Mat& w, std::uint64_t offset) {
        if (w.dev.layout.type == DType::F16) return w.dev;
#if GRETA_GPU_CUDA
        auto* out = reinterpret_cast<std::uint16_t*>(dequant_rows_.as<std::byte>() + offset);
        kernels::dispatch_format(w.dev.layout.type, [&]<DType T>() {
            if constexpr (T == DType::Q4_K || T == DType::Q6_K || T == DType::Q8_0)
                kernels::dequant_rows_launch<Arch, T>(stream_, w.dev, out);
        });
        kernels::DeviceMatrix d;
        d.payload = reinterpret_cast<const std::byte*>(out);
        d.layout = kernels::matrix_layout(DType::F16, w.dev.layout.rows, std::uint64_t(w.dev.layout.nsb) * kernels::kSbValues,
                                          kernels::RowOrder::Plain);
        return d;
#else
        (void)offset;
        return w.dev;
#endif
    }
    /// `maps`: this call's three TMA tensor maps (activations, w, w2) when w's GEMM is on the TMA
    /// path (on_tma), else ignored. `w2`: SiluPair's up projection.
    void gemm(const Mat& w, kernels::GemmArgs a, std::size_t maps = 0, const Mat* w2 = nullptr) {
        a.w = w.dev;
        if (w2) a.w2 = w2->dev;
#if GRETA_GPU_CUDA
        if constexpr (std::is_same_v<Arch, arch::Sm90>) {
            if (on_tma(w)) {
                a.w = fp16_rows(w, 0);
                if (w2) a.w2 = fp16_rows(*w2, fp16_rows_bytes(w));
                kernels::gemm_tma_f16_launch(stream_, a, tma_maps_.as<const kernels::TmaDescriptor>() + 3 * maps);
                return;
            }
        }
#endif
        kernels::dispatch_format(w.dev.layout.type, [&]<DType T>() { kernels::gemm_launch<Arch, T>(stream_, a); });
    }

    // ---- TMA tensor maps (F16 models on sm_90a): three per GEMM call site, made once ----
    enum Site : std::size_t { kQ, kK, kV, kO, kGateUp, kGate, kUp, kDown, kSites };
    std::size_t site(std::uint32_t layer, Site s) const { return std::size_t(layer) * kSites + s; }
    std::size_t lm_site() const { return std::size_t(cfg_.n_layers) * kSites; }

    void build_tma_maps() {
#if GRETA_GPU_CUDA
        if constexpr (std::is_same_v<Arch, arch::Sm90>) {
            // F16 layers take the TMA GEMM as they are; Q4_K/Q6_K/Q8_0 ones too, dequantized
            // into fp16 rows before each GEMM (the scratch holds the largest call's matrices).
            bool all_f16 = output_.dev.layout.type == DType::F16, all_fp16_rows = true;
            std::uint64_t scratch = 0;
            for (const auto& L : layers_) {
                for (const Mat* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) {
                    const DType t = m->dev.layout.type;
                    all_f16 = all_f16 && t == DType::F16;
                    all_fp16_rows = all_fp16_rows && (t == DType::F16 || t == DType::Q4_K || t == DType::Q6_K || t == DType::Q8_0);
                    scratch = std::max(scratch, fp16_rows_bytes(*m));
                }
                scratch = std::max(scratch, fp16_rows_bytes(L.gate) + fp16_rows_bytes(L.up));
            }
            if (std::getenv("GRETA_NO_TMA")) return;
            if (!all_f16) {
                // Dequantized rows need the scratch beside the rest, with room to spare.
                std::size_t free_b = 0, total_b = 0;
                const bool fits = gpu::vendor::mem_info(&free_b, &total_b) == gpu::success &&
                                  free_b > scratch + (std::uint64_t(512) << 20);
                bool dequant = opt_.prefill_dequant;
                if (const char* env = std::getenv("GRETA_PREFILL_DEQUANT")) dequant = std::atoi(env) != 0;
                if (!dequant || !all_fp16_rows || !fits) return;
                dequant_rows_ = gpu::DeviceBuffer(scratch, "allocate the prefill's fp16 weight rows");
            }
            tma_ = true;
            using kernels::encode_tma_f16;
            auto act = [&](const std::uint16_t* buf, std::uint32_t k) {
                const std::uint32_t halves = kernels::packed_row_halves(k);
                return encode_tma_f16(buf, halves, pf_chunk_, std::uint64_t(halves) * 2, kernels::TmaGemmPolicy::box_rows_a);
            };
            // w's rows as the TMA GEMM reads them: in place (F16) or in the scratch at `offset`.
            auto wmap = [&](const Mat& m, std::uint64_t offset = 0) {
                const auto& l = m.dev.layout;
                const std::uint64_t k = std::uint64_t(l.nsb) * kernels::kSbValues;
                if (l.type != DType::F16)
                    return encode_tma_f16(dequant_rows_.as<std::byte>() + offset, k, l.rows, k * 2,
                                          kernels::TmaGemmPolicy::box_rows_b);
                ensure(l.group_rows == 1, "TMA reads row-major weights");
                return encode_tma_f16(m.dev.payload, k, l.rows, l.payload_row_bytes(), kernels::TmaGemmPolicy::box_rows_b);
            };
            const std::uint32_t qd = cfg_.q_dim(), ffn = cfg_.ffn_dim;
            const std::uint16_t* o_in = qd % kernels::kSbValues == 0 ? pf_packed_out_ : pf_packed_;
            const std::uint16_t* d_in = ffn % kernels::kSbValues == 0 ? pf_packed_out_ : pf_packed_;
            std::vector<kernels::TmaDescriptor> maps(3 * (lm_site() + 1));
            auto put = [&](std::size_t at, const kernels::TmaDescriptor& a, const kernels::TmaDescriptor& b,
                           const kernels::TmaDescriptor& b2) {
                maps[3 * at] = a, maps[3 * at + 1] = b, maps[3 * at + 2] = b2;
            };
            const auto x_in = act(pf_packed_, cfg_.dim);
            for (std::uint32_t l = 0; l < cfg_.n_layers; ++l) {
                const Layer& L = layers_[l];
                put(site(l, kQ), x_in, wmap(L.wq), wmap(L.wq));
                put(site(l, kK), x_in, wmap(L.wk), wmap(L.wk));
                put(site(l, kV), x_in, wmap(L.wv), wmap(L.wv));
                put(site(l, kO), act(o_in, qd), wmap(L.wo), wmap(L.wo));
                put(site(l, kGateUp), x_in, wmap(L.gate), wmap(L.up, fp16_rows_bytes(L.gate)));
                put(site(l, kGate), x_in, wmap(L.gate), wmap(L.gate));
                put(site(l, kUp), x_in, wmap(L.up), wmap(L.up));
                put(site(l, kDown), act(d_in, ffn), wmap(L.down), wmap(L.down));
            }
            if (on_tma(output_)) put(lm_site(), x_in, wmap(output_), wmap(output_));
            tma_maps_ = gpu::DeviceBuffer(maps.size() * sizeof(kernels::TmaDescriptor), "allocate TMA tensor maps");
            gpu::check(gpu::vendor::memcpy_h2d_async(tma_maps_.data(), maps.data(), tma_maps_.size(), stream_.get()),
                       "upload TMA tensor maps");
            stream_.synchronize("upload TMA tensor maps");
        }
#endif
    }

    /// One chunk: tokens already in pf_tokens_, positions p0 .. p0 + m - 1.
    void enqueue_prefill_chunk(std::uint32_t m, std::uint32_t p0) {
        using E = kernels::GemmEpilogue;
        const std::uint32_t dim = cfg_.dim, qd = cfg_.q_dim(), kvd = cfg_.kv_dim(), ffn = cfg_.ffn_dim;
        kernels::dispatch_format(embd_.dev.layout.type, [&]<DType T>() {
            kernels::embed_rows_launch<Arch, T>(stream_, embd_.dev, pf_tokens_, m, pf_x_);
        });
        kernels::GemmArgs base;
        base.m = m;
        base.pos0 = p0;
        base.rope = rope_.as<const float2>();
        base.head_dim = cfg_.head_dim;
        for (std::uint32_t l = 0; l < cfg_.n_layers; ++l) {
            const Layer& L = layers_[l];
            std::uint16_t* kc = kv_.as<std::uint16_t>() + std::uint64_t(l) * context_ * kvd;
            std::uint16_t* vc = kc + std::uint64_t(cfg_.n_layers) * context_ * kvd;

            kernels::GemmArgs g = base;
            g.x = pack_for(L.wq, pf_x_, dim, L.attn_norm, m);
            g.epilogue = E::RopeStore;
            g.out = pf_q_;
            g.out_stride = qd;
            gemm(L.wq, g, site(l, kQ));
            g.x = pack_for(L.wk, pf_x_, dim, L.attn_norm, m);
            g.epilogue = E::RopeToCache;
            g.out = nullptr;
            g.cache = kc;
            g.cache_stride = kvd;
            gemm(L.wk, g, site(l, kK));
            g.x = pack_for(L.wv, pf_x_, dim, L.attn_norm, m);
            g.epilogue = E::ToCache;
            g.cache = vc;
            gemm(L.wv, g, site(l, kV));

            kernels::PrefillAttentionArgs at;
            at.q = pf_q_;
            at.q_stride = qd;
            at.k_cache = kc;
            at.v_cache = vc;
            at.out = pf_att_;
            at.m = m;
            at.pos0 = p0;
            at.n_heads = cfg_.n_heads;
            at.n_kv_heads = cfg_.n_kv_heads;
            at.kv_stride = kvd;
            at.scale = 1.0f / std::sqrt(float(cfg_.head_dim));
            // Producers write their consumer's packed fp16 input themselves where rows are whole
            // super-blocks (no padding to clear): one pack launch and an FP32 round trip less.
            const bool att_packed = qd % kernels::kSbValues == 0;
            if (att_packed) at.packed = {pf_packed_out_, qd, L.wo.dev.layout.type, on_tma(L.wo)};
            kernels::dispatch_head_dim(cfg_.head_dim, [&]<int HD>() { kernels::prefill_attention_launch<Arch, HD>(stream_, at); });

            kernels::GemmArgs o = base;
            o.x = att_packed ? pf_packed_out_ : pack_for(L.wo, pf_att_, qd, nullptr, m);
            o.epilogue = E::Add;
            o.out = pf_x_;
            o.out_stride = dim;
            gemm(L.wo, o, site(l, kO));
            packed_key_ = {};  // x changed

            kernels::GemmArgs f = base;
            f.x = pack_for(L.gate, pf_x_, dim, L.ffn_norm, m);
            f.out_stride = ffn;
            bool h_packed = false;
            if (L.gate.dev.layout.type == L.up.dev.layout.type) {
                f.epilogue = E::SiluPair;
                f.out = pf_h_;
                h_packed = ffn % kernels::kSbValues == 0;
                if (h_packed) f.packed = {pf_packed_out_, ffn, L.down.dev.layout.type, on_tma(L.down)};
                gemm(L.gate, f, site(l, kGateUp), &L.up);
            } else {
                f.epilogue = E::Store;
                f.out = pf_g_;
                gemm(L.gate, f, site(l, kGate));
                f.x = pack_for(L.up, pf_x_, dim, L.ffn_norm, m);
                f.epilogue = E::MulSilu;
                f.other = pf_g_;
                f.out = pf_h_;
                gemm(L.up, f, site(l, kUp));
            }
            kernels::GemmArgs d = base;
            d.x = h_packed ? pf_packed_out_ : pack_for(L.down, pf_h_, ffn, nullptr, m);
            d.epilogue = E::Add;
            d.out = pf_x_;
            d.out_stride = dim;
            gemm(L.down, d, site(l, kDown));
            packed_key_ = {};  // x and h change in the next layer
        }
    }

    void prefill(std::span<const std::int32_t> tokens, std::uint32_t pos, float* logits, bool all_positions) {
        const std::size_t n = tokens.size();
        check(std::uint64_t(pos) + n <= context_, [&] {
            return "prompt of " + std::to_string(n) + " tokens at position " + std::to_string(pos) +
                   " does not fit the context of " + std::to_string(context_);
        });
        for (std::size_t i = 0; i < n; ++i)
            check(tokens[i] >= 0 && std::uint32_t(tokens[i]) < cfg_.vocab_size,
                  [&] { return "token id " + std::to_string(tokens[i]) + " outside the vocabulary"; });
        const std::uint32_t V = cfg_.vocab_size;
        for (std::size_t i0 = 0; i0 < n; i0 += pf_chunk_) {
            const std::uint32_t m = std::uint32_t(std::min<std::size_t>(pf_chunk_, n - i0));
            // The pinned buffer may still feed the previous chunk's copy.
            stream_.synchronize("prefill chunk");
            std::memcpy(pf_tokens_host_.data(), tokens.data() + i0, std::size_t(m) * 4);
            gpu::check(gpu::vendor::memcpy_h2d_async(pf_tokens_, pf_tokens_host_.data(), std::size_t(m) * 4, stream_.get()),
                       "copy prompt tokens");
            packed_key_ = {};
            enqueue_prefill_chunk(m, pos + std::uint32_t(i0));
            if (all_positions) {
                if (!pf_logits_) pf_logits_ = gpu::DeviceBuffer(std::uint64_t(pf_chunk_) * V * 4, "allocate prompt logits");
                kernels::GemmArgs lm;
                lm.m = m;
                lm.x = pack_for(output_, pf_x_, cfg_.dim, out_norm_, m);
                lm.out = pf_logits_.as<float>();
                lm.out_stride = V;
                gemm(output_, lm, lm_site());
                gpu::check(gpu::vendor::memcpy_d2h_async(logits + i0 * V, pf_logits_.data(), std::size_t(m) * V * 4,
                                                         stream_.get()),
                           "copy prompt logits");
            } else if (i0 + m == n) {
                // Only the last position's logits: the decode lm_head GEMV on its row.
                const auto a = lm_head_args(pf_x_ + std::uint64_t(m - 1) * cfg_.dim);
                kernels::dispatch_format(output_.dev.layout.type,
                                         [&]<DType T>() { kernels::gemv_launch_auto<Arch, T>(stream_, a, false); });
                gpu::check(gpu::vendor::memcpy_d2h_async(host_logits_.data(), logits_dev_, std::size_t(V) * 4, stream_.get()),
                           "copy logits to host");
            }
        }
        stream_.synchronize("prefill");
        if (!all_positions) std::memcpy(logits, host_logits_.data(), std::size_t(V) * 4);
    }

    std::int32_t* host_io() const { return io_host_.as<std::int32_t>(); }

    // ---- the decode step as a list of launches ----
    using Launch = std::function<void(const gpu::Stream&)>;

    template <DType T>
    static Launch gemv_job(kernels::GemvArgs a, bool overlap) {
        return [a, overlap](const gpu::Stream& s) { kernels::gemv_launch_auto<Arch, T>(s, a, overlap); };
    }
    static std::uint64_t gemv_bytes(const kernels::GemvArgs& a) {
        std::uint64_t b = 0;
        for (std::uint32_t i = 0; i < a.n_seg; ++i) {
            b += a.seg[i].w.layout.total_bytes();
            if (a.seg[i].epilogue == kernels::GemvEpilogue::SiluPair) b += a.seg[i].w2.layout.total_bytes();
        }
        return b;
    }
    Launch gemv(kernels::GemvArgs a, const char* label) {
        a.trace = next_trace(label, gemv_bytes(a));
        Launch out;
        kernels::dispatch_format(a.seg[0].w.layout.type, [&]<DType T>() { out = gemv_job<T>(a, overlap_); });
        return out;
    }
    /// Whether the Q4_K/Q6_K Q/K/V launch runs persistent blocks (GRETA_QKV_PERSISTENT=0/1
    /// overrides the option).
    bool qkv_persistent() const {
        if (const char* env = std::getenv("GRETA_QKV_PERSISTENT")) return std::atoi(env) != 0;
        return opt_.qkv_persistent;
    }
    /// Whether the decode step hands activations over as images (only the sm_90 tensor-core
    /// GEMVs read them; GRETA_X_IMAGE=0/1 overrides the option).
    bool x_image() const {
        if (!std::is_same_v<Arch, arch::Sm90>) return false;
        if (const char* env = std::getenv("GRETA_X_IMAGE")) return std::atoi(env) != 0;
        return opt_.x_image;
    }
    /// a reads its x from `image` (with the partial sums of x^2 when it has a norm).
    static kernels::GemvArgs from_image(kernels::GemvArgs a, const std::uint16_t* image, const float* parts) {
        a.x_image = image;
        a.x_parts = a.norm ? parts : nullptr;
        return a;
    }
    /// a (one segment) also writes its output as `image` (times norm), with partial sums of y^2.
    static kernels::GemvArgs to_image(kernels::GemvArgs a, std::uint16_t* image, const float* norm, float* parts) {
        a.y_image = image;
        a.y_image_norm = norm;
        a.y_parts = parts;
        return a;
    }
    kernels::GemvArgs args(const float* x, const float* norm) const {
        kernels::GemvArgs a;
        a.x = x;
        a.norm = norm;
        a.eps = cfg_.norm_eps;
        a.pos = io_dev_ + 1;
        a.rope = rope_.as<const float2>();
        a.head_dim = cfg_.head_dim;
        return a;
    }
    /// Final norm + lm_head GEMV of the residual row x, with the greedy argmax into io_dev_[2].
    kernels::GemvArgs lm_head_args(const float* x) const {
        auto a = args(x, out_norm_);
        a.seg[0] = segment(output_, kernels::GemvEpilogue::Logits, logits_dev_);
        a.arg_val = arg_val_;
        a.arg_idx = arg_idx_;
        a.counter = lm_cnt_;
        a.token_out = io_dev_ + 2;
        a.next_io = io_dev_;
        a.token_ring = token_ring_dev_;
        a.ring_size = kTokenRing;
        return a;
    }
    static kernels::GemvSegment segment(const Mat& m, kernels::GemvEpilogue e, float* out) {
        kernels::GemvSegment s;
        s.w = m.dev;
        s.epilogue = e;
        s.out = out;
        return s;
    }

    gpu::KernelTrace next_trace(const char* label, std::uint64_t bytes = 0) {
        labels_.emplace_back(label);
        launch_bytes_.push_back(bytes);
        gpu::KernelTrace t;
        if (trace_buf_) {
            t.first = trace_buf_.as<unsigned long long>();
            t.last = t.first + 2 * (trace_buf_.size() / 24);
            t.index = std::uint32_t(labels_.size() - 1);
        }
        return t;
    }

    void build_step() {
        using E = kernels::GemvEpilogue;
        step_.clear();
        labels_.clear();
        launch_bytes_.clear();
        const std::int32_t* token = io_dev_;
        {
            const kernels::DeviceMatrix em = embd_.dev;
            float* x = x_;
            const gpu::KernelTrace tr = next_trace("embed");
            kernels::dispatch_format(em.layout.type, [&]<DType T>() {
                step_.push_back(
                    [em, token, x, tr](const gpu::Stream& s) { kernels::embed_launch<Arch, T>(s, em, token, 0, x, false, tr); });
            });
        }
        const std::uint32_t kvd = cfg_.kv_dim();
        // Producers hand x, the attention output and the SwiGLU output over as images too; the
        // embedding writes none, so layer 0's Q/K/V stage x themselves.
        const bool img = x_image();
        bool x_img_ready = false;
        auto x_in = [&](kernels::GemvArgs a) { return x_img_ready ? from_image(a, x_img_, x_parts_) : a; };
        for (std::uint32_t l = 0; l < cfg_.n_layers; ++l) {
            const Layer& L = layers_[l];
            std::uint16_t* kc = kv_.as<std::uint16_t>() + std::uint64_t(l) * context_ * kvd;
            std::uint16_t* vc = kc + std::uint64_t(cfg_.n_layers) * context_ * kvd;

            // Q, K (and V when it shares the format): one launch, norm fused.
            auto qkv = x_in(args(x_, L.attn_norm));
            qkv.seg[0] = segment(L.wq, E::RopeStore, q_);
            kernels::GemvSegment ks = segment(L.wk, E::RopeToCache, nullptr);
            ks.cache = kc;
            ks.cache_stride = kvd;
            kernels::GemvSegment vs = segment(L.wv, E::ToCache, nullptr);
            vs.cache = vc;
            vs.cache_stride = kvd;
            const DType tq = L.wq.dev.layout.type, tk = L.wk.dev.layout.type, tv = L.wv.dev.layout.type;
            if (tk == tq) {
                qkv.seg[qkv.n_seg++] = ks;
            } else {
                auto a = x_in(args(x_, L.attn_norm));
                a.seg[0] = ks;
                step_.push_back(gemv(a, "k"));
            }
            if (tv == tq) {
                qkv.seg[qkv.n_seg++] = vs;
                step_.push_back(gemv(qkv, "qkv"));
            } else if (std::is_same_v<Arch, arch::Sm90> && tq == DType::Q4_K && tk == DType::Q4_K && tv == DType::Q6_K) {
                // Q4_K_M's layers with V in Q6_K: still one launch.
                qkv.seg[qkv.n_seg++] = vs;
                qkv.trace = next_trace("qkv (v q6_k)", gemv_bytes(qkv));
                const bool ov = overlap_, persistent = qkv_persistent();
                step_.push_back([qkv, ov, persistent](const gpu::Stream& s) {
                    kernels::gemv_launch_qkv_q4k_q6k<Arch>(s, qkv, ov, persistent);
                });
            } else {
                step_.push_back(gemv(qkv, "qk"));
                auto a = x_in(args(x_, L.attn_norm));
                a.seg[0] = vs;
                step_.push_back(gemv(a, "v"));
            }

            kernels::AttentionArgs at;
            at.q = q_;
            at.k_cache = kc;
            at.v_cache = vc;
            at.out = att_;
            at.out_image = img ? att_img_ : nullptr;
            at.partial = attn_part_;
            at.counters = attn_cnt_;
            at.pos = io_dev_ + 1;
            at.n_heads = cfg_.n_heads;
            at.n_kv_heads = cfg_.n_kv_heads;
            at.kv_stride = kvd;
            at.splits = attn_splits_;
            at.min_chunk = kAttnMinChunk;
            at.max_chunk = attn_max_chunk_;
            at.scale = 1.0f / std::sqrt(float(cfg_.head_dim));
            at.trace = next_trace("attention");
            const bool ov = overlap_;
            kernels::dispatch_head_dim(cfg_.head_dim, [&]<int HD>() {
                step_.push_back([at, ov](const gpu::Stream& s) { kernels::attention_launch<Arch, HD>(s, at, ov); });
            });

            auto o = args(att_, nullptr);
            o.seg[0] = segment(L.wo, E::Add, x_);
            if (img) {
                o = from_image(o, att_img_, nullptr);
                o = to_image(o, x_img_, L.ffn_norm, x_parts_);
            }
            step_.push_back(gemv(o, "o"));
            x_img_ready = img;

            if (L.gate.dev.layout.type == L.up.dev.layout.type) {
                auto f = x_in(args(x_, L.ffn_norm));
                f.seg[0] = segment(L.gate, E::SiluPair, h_);
                f.seg[0].w2 = L.up.dev;
                if (img) f = to_image(f, h_img_, nullptr, nullptr);
                step_.push_back(gemv(f, "gate+up"));
            } else {
                auto g = x_in(args(x_, L.ffn_norm));
                g.seg[0] = segment(L.gate, E::Store, gtmp_);
                step_.push_back(gemv(g, "gate"));
                auto u = x_in(args(x_, L.ffn_norm));
                u.seg[0] = segment(L.up, E::MulSilu, h_);
                u.seg[0].other = gtmp_;
                if (img) u = to_image(u, h_img_, nullptr, nullptr);
                step_.push_back(gemv(u, "up"));
            }
            auto d = args(h_, nullptr);
            d.seg[0] = segment(L.down, E::Add, x_);
            if (img) {
                // x's next GEMV: the next layer's Q/K/V or, after the last layer, lm_head.
                const float* next_norm = l + 1 < cfg_.n_layers ? layers_[l + 1].attn_norm : out_norm_;
                d = from_image(d, h_img_, nullptr);
                d = to_image(d, x_img_, next_norm, x_parts_);
            }
            step_.push_back(gemv(d, L.down.dev.layout.type == DType::Q6_K ? "down q6_k" : "down"));
            if (capture_) {
                float* dst = capture_buf_.as<float>() + std::size_t(l) * cfg_.dim;
                const float* src = x_;
                const std::size_t bytes = std::size_t(cfg_.dim) * 4;
                step_.push_back([dst, src, bytes](const gpu::Stream& s) {
                    gpu::check(gpu::vendor::memcpy_d2d_async(dst, src, bytes, s.get()), "capture hidden state");
                });
            }
        }
        step_.push_back(gemv(x_in(lm_head_args(x_)), "lm_head"));
    }

    /// One decode step on stream s. `from_host`: the step's token and position come from the
    /// pinned io block and the argmax goes back to it; otherwise the step reads what the last
    /// one left in io_dev_ (chained steps) and its argmax reaches the host through the ring.
    void enqueue_step(const gpu::Stream& s, bool from_host = true) {
        if (trace_buf_) {
            const std::size_t n = trace_buf_.size() / 24;
            gpu::check(gpu::vendor::memset_async(trace_buf_.data(), 0xFF, n * 16, s.get()), "reset trace");
            gpu::check(gpu::vendor::memset_async(trace_buf_.as<std::byte>() + n * 16, 0, n * 8, s.get()), "reset trace");
        }
        if (from_host)
            gpu::check(gpu::vendor::memcpy_h2d_async(io_dev_, io_host_.data(), 8, s.get()), "copy token and position");
        for (auto& launch : step_) launch(s);
        if (from_host)
            gpu::check(gpu::vendor::memcpy_d2h_async(host_io() + 2, io_dev_ + 2, 4, s.get()), "copy greedy token");
    }
    /// A step that continues from the previous one on the device (see enqueue_step).
    void run_chained_step() {
        if (opt_.use_graph) {
            if (!chain_graph_)
                chain_graph_ = gpu::Graph::capture(stream_, [this](const gpu::Stream& s) { enqueue_step(s, false); });
            chain_graph_.launch(stream_);
        } else {
            enqueue_step(stream_, false);
        }
    }

    void run_step(std::int32_t token, std::uint32_t pos) {
        check(pos < context_, [&] {
            return "position " + std::to_string(pos) + " is outside the context of " + std::to_string(context_);
        });
        check(token >= 0 && std::uint32_t(token) < cfg_.vocab_size,
              [&] { return "token id " + std::to_string(token) + " outside the vocabulary"; });
        host_io()[0] = token;
        host_io()[1] = std::int32_t(pos);
        if (opt_.use_graph) {
            if (!graph_) graph_ = gpu::Graph::capture(stream_, [this](const gpu::Stream& s) { enqueue_step(s); });
            graph_.launch(stream_);
        } else {
            enqueue_step(stream_);
        }
    }

    void collect_trace() {
        if (!trace_buf_) return;
        const std::size_t n = trace_buf_.size() / 24, k = labels_.size();
        std::vector<unsigned long long> t(3 * n);
        gpu::check(gpu::vendor::memcpy_d2h_async(t.data(), trace_buf_.data(), trace_buf_.size(), stream_.get()), "read trace");
        stream_.synchronize("read trace");
        if (trace_sum_.empty()) trace_sum_.assign(3 * k, 0.0);
        for (std::size_t i = 0; i < k; ++i) {
            const double start = double(t[2 * i]), waited = double(t[2 * i + 1]), end = double(t[2 * n + i]);
            const double prev_end = i ? double(t[2 * n + i - 1]) : start;
            trace_sum_[3 * i] += end - waited;                // busy after the dependency cleared
            trace_sum_[3 * i + 1] += waited - prev_end;       // producer end -> consumer running
            trace_sum_[3 * i + 2] += std::max(0.0, prev_end - start);  // started before the producer ended
        }
        ++trace_steps_;
        trace_pos_sum_ += std::uint64_t(host_io()[1]);
    }
    void print_trace() const {
        struct Row {
            int n = 0;
            double busy = 0, gap = 0, early = 0;
        };
        std::vector<std::pair<std::string, Row>> rows;
        double busy = 0, gap = 0;
        for (std::size_t i = 0; i < labels_.size(); ++i) {
            auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.first == labels_[i]; });
            if (it == rows.end()) it = rows.insert(rows.end(), {labels_[i], Row{}});
            it->second.n += 1;
            it->second.busy += trace_sum_[3 * i] / trace_steps_ / 1e3;
            it->second.gap += trace_sum_[3 * i + 1] / trace_steps_ / 1e3;
            it->second.early += trace_sum_[3 * i + 2] / trace_steps_ / 1e3;
            busy += trace_sum_[3 * i] / trace_steps_ / 1e3;
            gap += trace_sum_[3 * i + 1] / trace_steps_ / 1e3;
        }
        std::fprintf(stderr, "greta gpu trace: %d steps, per step (us): busy %.1f + gaps %.1f = %.1f\n", trace_steps_, busy,
                     gap, busy + gap);
        std::fprintf(stderr, "| launch | per step | busy us (sum) | gap us (sum) | early start us (sum) |\n");
        for (const auto& [label, r] : rows)
            std::fprintf(stderr, "| %s | %d | %.1f | %.1f | %.1f |\n", label.c_str(), r.n, r.busy, r.gap, r.early);
    }

    ModelConfig cfg_;
    GpuBackendOptions opt_;
    std::uint32_t context_ = 0;
    bool overlap_ = false;
    RopeStyle rope_style_ = RopeStyle::AdjacentPairs;
    gpu::Stream stream_;

    gpu::DeviceBuffer weights_;
    Mat embd_, output_;
    bool tied_ = false;
    std::uint64_t out_norm_off_ = 0;
    const float* out_norm_ = nullptr;
    std::vector<Layer> layers_;
    std::uint64_t step_weight_bytes_ = 0;

    gpu::DeviceBuffer kv_, work_, rope_;
    gpu::PinnedBuffer io_host_;
    std::vector<float> host_logits_;
    float *x_ = nullptr, *q_ = nullptr, *att_ = nullptr, *h_ = nullptr, *gtmp_ = nullptr, *logits_dev_ = nullptr;
    float* attn_part_ = nullptr;
    std::uint32_t* attn_cnt_ = nullptr;
    std::uint32_t* lm_cnt_ = nullptr;
    float* arg_val_ = nullptr;
    std::int32_t* arg_idx_ = nullptr;
    std::int32_t* io_dev_ = nullptr;
    /// Images of x, the attention output and the SwiGLU output for their next GEMV, and the
    /// partial sums of x^2 (kernels/x_image.hpp).
    std::uint16_t *x_img_ = nullptr, *att_img_ = nullptr, *h_img_ = nullptr;
    float* x_parts_ = nullptr;
    std::uint32_t attn_splits_ = 1, attn_max_chunk_ = 32, lm_blocks_ = 0;

    // prefill
    struct PackedKey {
        DType type = DType::F32;
        bool natural = false;
        const float* src = nullptr;
        const float* norm = nullptr;
        std::uint32_t k = 0, rows = 0;
        bool operator==(const PackedKey&) const = default;
    };
    gpu::DeviceBuffer pf_work_, pf_logits_;
    gpu::PinnedBuffer pf_tokens_host_;
    std::uint32_t pf_chunk_ = 0;
    std::int32_t* pf_tokens_ = nullptr;
    float *pf_x_ = nullptr, *pf_q_ = nullptr, *pf_att_ = nullptr, *pf_h_ = nullptr, *pf_g_ = nullptr;
    std::uint16_t* pf_packed_ = nullptr;      ///< GEMM inputs packed by pack_for
    std::uint16_t* pf_packed_out_ = nullptr;  ///< GEMM inputs packed by their producer (attention, SwiGLU)
    PackedKey packed_key_;
    bool tma_ = false;  ///< sm_90a: prefill GEMMs on TMA + wgmma (kernels/gemm_tma_sm90.hpp), see on_tma()
    /// fp16 rows of the quantized matrices of one GEMM call (kernels/dequant_rows.hpp); empty
    /// when every layer is F16 or the TMA path is off.
    gpu::DeviceBuffer dequant_rows_;
    gpu::DeviceBuffer tma_maps_;

    std::vector<Launch> step_;
    std::vector<std::string> labels_;
    std::vector<std::uint64_t> launch_bytes_;  // bytes read by each launch of the step
    std::uint64_t trace_pos_sum_ = 0;
    gpu::DeviceBuffer trace_buf_;
    std::vector<double> trace_sum_;
    int trace_steps_ = 0;
    gpu::Graph graph_;
    gpu::Graph chain_graph_;  ///< the step without the host copies (decode_greedy_run)
    /// Greedy tokens of chained steps by position modulo kTokenRing, written by lm_head's last
    /// block into pinned host memory (mapped for the device: zero-copy stores).
    static constexpr std::uint32_t kTokenRing = 64;
    gpu::PinnedBuffer token_ring_;
    std::int32_t* token_ring_dev_ = nullptr;  ///< the ring as kernels address it
    gpu::Event step_done_[2];
    bool capture_ = false;
    gpu::DeviceBuffer capture_buf_;
    std::vector<std::vector<float>> hidden_;
};

}  // namespace greta::model
