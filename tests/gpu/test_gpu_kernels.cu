// GPU kernels against host references. Tests that need a device SKIP (saying so) without one;
// the layout tests run everywhere.
//
// Tolerances and why:
//  - dequantization (embedding kernel): exact. Every product d*sc*q is exact in float, so the
//    device must give the bits of the host dequantizer and of llama.cpp's fixtures.
//  - GEMV, tensor-core path (Q4_K, Q6_K, Q8_0, F16 on sm_90): x is rounded to fp16 (relative
//    2^-11 per element), products and sums are FP32: max |err| <= 2e-3 * max |ref|.
//  - GEMV, FP32 path (BF16, F32): FP32 sums in another order than the FP64 reference: 1e-5.
//  - attention: FP32 over the same fp16 KV values as the reference: 2e-5.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include <greta/gpu.hpp>
#include <greta/io/gguf.hpp>
#include <greta/kernels.hpp>
#include <greta/kernels/gemm_tma_sm90.hpp>
#include <greta/model/synthetic.hpp>
#include <greta/quant/row.hpp>

#include "shared_files.hpp"

using namespace greta;
using Arch = arch::Sm90;

#define GRETA_GPU_OR_SKIP() \
    if (gpu::device_count() == 0) SKIP("no GPU device: GPU kernel tests run on a machine with one")

namespace {

template <class T>
gpu::DeviceBuffer upload(const std::vector<T>& v) {
    gpu::DeviceBuffer b(std::max<std::size_t>(v.size() * sizeof(T), 16));
    gpu::check(gpu::vendor::memcpy_h2d_async(b.data(), v.data(), v.size() * sizeof(T), nullptr), "test upload");
    gpu::check(gpu::vendor::device_sync(), "test upload sync");
    return b;
}
template <class T>
std::vector<T> download(const gpu::DeviceBuffer& b, std::size_t n) {
    std::vector<T> v(n);
    gpu::check(gpu::vendor::device_sync(), "test sync");
    gpu::check(gpu::vendor::memcpy_d2h_async(v.data(), b.data(), n * sizeof(T), nullptr), "test download");
    gpu::check(gpu::vendor::device_sync(), "test download sync");
    return v;
}

/// A random matrix in GGUF layout (valid encodings from the synthetic generator).
struct HostMatrix {
    DType type;
    std::uint32_t rows, cols;
    std::vector<std::byte> bytes;
    TensorView view() const {
        TensorView t;
        t.name = "test";
        t.type = type;
        t.n_dims = 2;
        t.ne = {cols, rows, 1, 1};
        t.data = bytes.data();
        t.n_bytes = bytes.size();
        return t;
    }
    std::vector<float> row(std::uint32_t r) const {
        std::vector<float> out(cols);
        quant::dequantize_row(type, bytes.data() + std::size_t(r) * *row_bytes(type, cols), out.data(), cols);
        return out;
    }
};

HostMatrix random_matrix(DType type, std::uint32_t rows, std::uint32_t cols, std::uint64_t seed) {
    HostMatrix m{type, rows, cols, {}};
    const DTypeInfo info = dtype_info(type);
    m.bytes.resize(*row_bytes(type, cols) * rows);
    const float sd = 1.0f / std::sqrt(float(cols));
    model::synthetic::Rng rng(seed, 0, 0);
    if (type == DType::BF16 || type == DType::F32) {
        for (std::size_t i = 0; i < std::size_t(rows) * cols; ++i) {
            const float f = (2.0f * rng.uniform() - 1.0f) * sd * 1.7f;
            if (type == DType::F32) {
                std::memcpy(m.bytes.data() + 4 * i, &f, 4);
            } else {
                const std::uint16_t b = f32_to_bf16(f);
                std::memcpy(m.bytes.data() + 2 * i, &b, 2);
            }
        }
        return m;
    }
    const std::uint64_t blocks = std::uint64_t(rows) * cols / info.block_values;
    for (std::uint64_t b = 0; b < blocks; ++b)
        model::synthetic::fill_block(type, m.bytes.data() + b * info.block_bytes, sd, rng);
    return m;
}

/// The matrix in device layout, on the device.
struct DevMatrix {
    kernels::MatrixLayout layout;
    gpu::DeviceBuffer payload, meta, aux;
    kernels::DeviceMatrix dev() const {
        return {payload.as<const std::byte>(), meta.as<const std::byte>(), aux.as<const std::byte>(), layout};
    }
};

DevMatrix to_device(const HostMatrix& m) {
    DevMatrix d;
    d.layout = kernels::matrix_layout(m.type, m.rows, m.cols);
    std::vector<std::byte> p(d.layout.payload_bytes()), me(std::max<std::uint64_t>(d.layout.meta_bytes(), 1)),
        a(std::max<std::uint64_t>(d.layout.aux_bytes(), 1));
    const TensorView v = m.view();
    kernels::repack_rows(v, d.layout, 0, m.rows, p.data(), me.data(), a.data());
    d.payload = upload(p);
    d.meta = upload(me);
    d.aux = upload(a);
    return d;
}

std::vector<float> random_vector(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    model::synthetic::Rng rng(seed, 7, 7);
    std::vector<float> v(n);
    for (auto& x : v) x = lo + (hi - lo) * rng.uniform();
    return v;
}

double max_rel_error(const std::vector<float>& got, const std::vector<double>& ref) {
    double md = 0, mr = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        md = std::max(md, std::abs(double(got[i]) - ref[i]));
        mr = std::max(mr, std::abs(ref[i]));
    }
    return md / std::max(mr, 1e-30);
}

/// One query's attention output (all heads) in FP64 over the first n_keys cached positions:
/// q is [n_heads * hd], the caches [position][kvd] fp16, head h reads KV head h / (nh / nkv).
std::vector<double> reference_attention(const float* q, const std::vector<std::uint16_t>& kh,
                                        const std::vector<std::uint16_t>& vh, std::uint32_t nh, std::uint32_t nkv,
                                        std::uint32_t hd, std::uint32_t n_keys) {
    const std::uint32_t kvd = nkv * hd;
    std::vector<double> out(std::size_t(nh) * hd);
    for (std::uint32_t h = 0; h < nh; ++h) {
        const std::uint32_t kv = h / (nh / nkv);
        std::vector<double> sc(n_keys);
        double mx = -INFINITY;
        for (std::uint32_t t = 0; t < n_keys; ++t) {
            double d = 0;
            for (std::uint32_t e = 0; e < hd; ++e) d += double(q[h * hd + e]) * fp16_to_f32(kh[std::size_t(t) * kvd + kv * hd + e]);
            sc[t] = d / std::sqrt(double(hd));
            mx = std::max(mx, sc[t]);
        }
        double l = 0;
        for (auto& v : sc) l += (v = std::exp(v - mx));
        for (std::uint32_t e = 0; e < hd; ++e) {
            double o = 0;
            for (std::uint32_t t = 0; t < n_keys; ++t) o += sc[t] * fp16_to_f32(vh[std::size_t(t) * kvd + kv * hd + e]);
            out[h * hd + e] = o / l;
        }
    }
    return out;
}

/// y = W (norm(x) or x) in FP64 from the host dequantization.
std::vector<double> reference_gemv(const HostMatrix& m, const std::vector<float>& x, const std::vector<float>* norm,
                                   float eps = 1e-5f) {
    std::vector<double> xin(x.begin(), x.end());
    if (norm) {
        double ss = 0;
        for (float v : x) ss += double(v) * v;
        const double s = 1.0 / std::sqrt(ss / double(x.size()) + eps);
        for (std::size_t i = 0; i < x.size(); ++i) xin[i] = double(x[i]) * s * (*norm)[i];
    }
    std::vector<double> y(m.rows);
    for (std::uint32_t r = 0; r < m.rows; ++r) {
        const auto w = m.row(r);
        double acc = 0;
        for (std::uint32_t k = 0; k < m.cols; ++k) acc += double(w[k]) * xin[k];
        y[r] = acc;
    }
    return y;
}

template <DType T>
double tolerance() {
    return kernels::GemvPolicy<Arch, T>::mma ? 2e-3 : 1e-5;
}

/// One-segment GEMV arguments: x (times norm) through w, the epilogue writing out.
kernels::GemvArgs one_segment_args(const float* x, const float* norm, const DevMatrix& w, kernels::GemvEpilogue e, float* out) {
    kernels::GemvArgs a;
    a.x = x;
    a.norm = norm;
    a.seg[0].w = w.dev();
    a.seg[0].epilogue = e;
    a.seg[0].out = out;
    return a;
}

template <DType T>
void check_plain_gemv(std::uint32_t rows, std::uint32_t cols, bool with_norm, bool automatic = false) {
    const HostMatrix m = random_matrix(T, rows, cols, 1000 + rows + cols);
    const DevMatrix dm = to_device(m);
    const auto x = random_vector(cols, rows * 31 + cols, -2.0f, 2.0f);
    const auto g = random_vector(cols, 5, 0.5f, 1.5f);
    auto dx = upload(x), dg = upload(g);
    gpu::DeviceBuffer dy(rows * 4);
    gpu::Stream s;
    kernels::GemvArgs a;
    a.x = dx.as<const float>();
    a.norm = with_norm ? dg.as<const float>() : nullptr;
    a.seg[0].w = dm.dev();
    a.seg[0].out = dy.as<float>();
    if (automatic) kernels::gemv_launch_auto<Arch, T>(s, a);
    else kernels::gemv_launch<Arch, T>(s, a);
    s.synchronize();
    const auto y = download<float>(dy, rows);
    const auto ref = reference_gemv(m, x, with_norm ? &g : nullptr);
    INFO(dtype_name(T) << " rows " << rows << " cols " << cols << " norm " << with_norm);
    CHECK(max_rel_error(y, ref) <= tolerance<T>());
}

/// What a producer hands over for x (kernels/x_image.hpp), built on the host: fp16(x * norm)
/// at image_position(k), and the sums of x^2 over 16 rows.
struct HostImage {
    std::vector<std::uint16_t> image;
    std::vector<float> parts;
};
HostImage host_image(const std::vector<float>& x, const std::vector<float>* norm) {
    HostImage h;
    h.image.assign(x.size(), 0);
    h.parts.assign((x.size() + kernels::x_parts_rows - 1) / kernels::x_parts_rows, 0.0f);
    for (std::uint32_t k = 0; k < x.size(); ++k) {
        h.image[kernels::image_position(k)] = f32_to_fp16(norm ? x[k] * (*norm)[k] : x[k]);
        h.parts[k / kernels::x_parts_rows] += x[k] * x[k];
    }
    return h;
}

/// The GEMV reading its input from an image, with x itself poisoned (NaN) so that a staging
/// that still read it would fail.
template <DType T>
void check_gemv_from_image(std::uint32_t rows, std::uint32_t cols, bool with_norm, bool automatic) {
    const HostMatrix m = random_matrix(T, rows, cols, 2000 + rows + cols);
    const DevMatrix dm = to_device(m);
    const auto x = random_vector(cols, rows * 17 + cols, -2.0f, 2.0f);
    const auto g = random_vector(cols, 6, 0.5f, 1.5f);
    const HostImage hi = host_image(x, with_norm ? &g : nullptr);
    auto dpoison = upload(std::vector<float>(cols, std::numeric_limits<float>::quiet_NaN()));
    auto dg = upload(g), dimg = upload(hi.image), dparts = upload(hi.parts);
    gpu::DeviceBuffer dy(rows * 4);
    gpu::Stream s;
    kernels::GemvArgs a;
    a.x = dpoison.as<const float>();
    a.norm = with_norm ? dg.as<const float>() : nullptr;
    a.x_image = dimg.as<const std::uint16_t>();
    a.x_parts = with_norm ? dparts.as<const float>() : nullptr;
    a.seg[0].w = dm.dev();
    a.seg[0].out = dy.as<float>();
    if (automatic) kernels::gemv_launch_auto<Arch, T>(s, a);
    else kernels::gemv_launch<Arch, T>(s, a);
    s.synchronize();
    INFO(dtype_name(T) << " rows " << rows << " cols " << cols << " norm " << with_norm << " automatic " << automatic);
    CHECK(max_rel_error(download<float>(dy, rows), reference_gemv(m, x, with_norm ? &g : nullptr)) <= tolerance<T>());
    if (with_norm) {  // an image without its sums of x^2 is refused, not read as null
        a.x_parts = nullptr;
        auto refused = [&] { kernels::gemv_launch<Arch, T>(s, a); };
        CHECK_THROWS_WITH(refused(), Catch::Matchers::ContainsSubstring("partial sums"));
    }
}

}  // namespace

TEST_CASE("x image: the Q4_K/Q6_K tensor-core staging order is a chunked copy of it", "[gpu][layout]") {
    for (std::uint32_t k = 0; k < 1024; ++k) CHECK(kernels::image_position(kernels::image_position(k)) == k);
    CHECK(kernels::image_chunks_match_slots<kernels::Format<DType::Q4_K>>());
    CHECK(kernels::image_chunks_match_slots<kernels::Format<DType::Q6_K>>());
    // Formats whose slots keep values in order are staged from x, never from the image.
    CHECK_FALSE(kernels::image_chunks_match_slots<kernels::Format<DType::Q8_0>>());
    CHECK_FALSE(kernels::image_chunks_match_slots<kernels::Format<DType::F16>>());
    // Independently of image_chunk: the staged value at each lane's half, from slot_of.
    auto staged_from_slots = []<class F>(F) {
        std::vector<int> at(256, -1);
        for (int kk = 0; kk < 256; kk += 4) {
            int c = 0, t = 0, j = 0;
            F::slot_of(kk, c, t, j);
            const int slot = ((t / 2) * 4 + c) * 2 + t % 2;  // the GEMV's uint2 slot of this group
            for (int e = 0; e < 4; ++e) at[slot * 4 + e] = kk + kernels::slot_byte(e);
        }
        int bad = 0;
        for (int lane = 0; lane < 32; ++lane)
            for (int h = 0; h < 8; ++h)
                bad += std::uint32_t(at[lane * 8 + h]) !=
                       kernels::image_position(std::uint32_t(kernels::image_chunk<F>(lane) * 8 + h));
        return bad;
    };
    CHECK(staged_from_slots(kernels::Format<DType::Q4_K>{}) == 0);
    CHECK(staged_from_slots(kernels::Format<DType::Q6_K>{}) == 0);
}

TEST_CASE("GEMV staging from an x image matches the FP64 reference", "[gpu][gemv]") {
    GRETA_GPU_OR_SKIP();
    const bool norm = GENERATE(false, true);
    check_gemv_from_image<DType::Q4_K>(300, 512, norm, false);
    check_gemv_from_image<DType::Q4_K>(64, 2816, norm, false);  // 11 super-blocks: uneven over the waves
    check_gemv_from_image<DType::Q4_K>(4096, 11008, norm, true);  // ffn_down's shape and tuning
    check_gemv_from_image<DType::Q4_K>(16400, 512, norm, true);   // wide
    check_gemv_from_image<DType::Q6_K>(300, 768, norm, false);
    check_gemv_from_image<DType::Q6_K>(40, 2816, norm, true);
    check_gemv_from_image<DType::Q6_K>(32000, 1024, norm, true);  // lm_head's tuning
}

TEST_CASE("GEMV epilogues hand their output over as an image with partial sums of y^2", "[gpu][gemv]") {
    GRETA_GPU_OR_SKIP();
    constexpr std::uint32_t K = 512, R = 200;  // 200 rows: the last 16-row part is half full
    const HostMatrix gate = random_matrix(DType::Q4_K, R, K, 21), up = random_matrix(DType::Q4_K, R, K, 22);
    const DevMatrix dgate = to_device(gate), dup = to_device(up);
    const auto x = random_vector(K, 23, -2.0f, 2.0f), nw = random_vector(K, 24, 0.5f, 1.5f);
    const auto next_norm = random_vector(R, 25, 0.5f, 1.5f);
    auto dx = upload(x), dn = upload(nw), dnext = upload(next_norm);
    gpu::DeviceBuffer dimg(R * 2), dparts(((R + 15) / 16) * 4);
    gpu::Stream s;
    // Each output row's image half must be fp16(y * norm) of the FP32 output itself.
    auto check_image = [&](const std::vector<float>& y, const std::vector<float>* norm) {
        const auto img = download<std::uint16_t>(dimg, R);
        int bad = 0;
        for (std::uint32_t r = 0; r < R; ++r)
            bad += img[kernels::image_position(r)] != f32_to_fp16(norm ? y[r] * (*norm)[r] : y[r]);
        CHECK(bad == 0);
    };
    const bool automatic = GENERATE(false, true);  // 32-row blocks (Q4_K default) or the tuned shape
    INFO("automatic " << automatic);
    auto launch = [&](const kernels::GemvArgs& a) {
        if (automatic) kernels::gemv_launch_auto<Arch, DType::Q4_K>(s, a);
        else kernels::gemv_launch<Arch, DType::Q4_K>(s, a);
        s.synchronize();
    };

    SECTION("Add (residual stream): image times the next norm, partial sums") {
        const auto init = random_vector(R, 26);
        auto dy = upload(init);
        auto a = one_segment_args(dx.as<const float>(), dn.as<const float>(), dgate, kernels::GemvEpilogue::Add, dy.as<float>());
        a.y_image = dimg.as<std::uint16_t>();
        a.y_image_norm = dnext.as<const float>();
        a.y_parts = dparts.as<float>();
        launch(a);
        const auto y = download<float>(dy, R);
        const auto rg = reference_gemv(gate, x, &nw);
        std::vector<double> ref(R);
        for (std::uint32_t r = 0; r < R; ++r) ref[r] = init[r] + rg[r];
        CHECK(max_rel_error(y, ref) <= 2e-3);
        check_image(y, &next_norm);
        const auto parts = download<float>(dparts, (R + 15) / 16);
        for (std::uint32_t p = 0; p < parts.size(); ++p) {
            double want = 0;
            for (std::uint32_t r = 16 * p; r < std::min(R, 16 * p + 16); ++r) want += double(y[r]) * y[r];
            INFO("part " << p);
            CHECK(std::abs(parts[p] - want) <= 1e-5 * want);
        }
    }
    SECTION("SiluPair: image without a norm; parts are refused") {
        gpu::DeviceBuffer dh(R * 4);
        auto a = one_segment_args(dx.as<const float>(), dn.as<const float>(), dgate, kernels::GemvEpilogue::SiluPair, dh.as<float>());
        a.seg[0].w2 = dup.dev();
        a.y_image = dimg.as<std::uint16_t>();
        launch(a);
        check_image(download<float>(dh, R), nullptr);
        a.y_parts = dparts.as<float>();
        auto refused = [&] { kernels::gemv_launch<Arch, DType::Q4_K>(s, a); };
        CHECK_THROWS_WITH(refused(), Catch::Matchers::ContainsSubstring("16-row"));
    }
}

TEST_CASE("device layouts: kmap is a bijection and slot_of its inverse", "[gpu][layout]") {
    auto check_format = [&]<DType T>() {
        using F = kernels::Format<T>;
        std::set<int> seen;
        for (int c = 0; c < 4; ++c)
            for (int t = 0; t < 16; ++t)
                for (int j = 0; j < 4; ++j) {
                    const int k = F::kmap(c, t, j);
                    REQUIRE(k >= 0);
                    REQUIRE(k < 256);
                    seen.insert(k);
                    int c2, t2, j2;
                    F::slot_of(k, c2, t2, j2);
                    REQUIRE(c2 == c);
                    REQUIRE(t2 == t);
                    REQUIRE(j2 == j);
                }
        CHECK(seen.size() == 256);
    };
    check_format.operator()<DType::Q4_K>();
    check_format.operator()<DType::Q6_K>();
    check_format.operator()<DType::Q8_0>();
    check_format.operator()<DType::F16>();
    check_format.operator()<DType::BF16>();
    check_format.operator()<DType::F32>();
}

TEST_CASE("device layouts keep the GGUF byte count", "[gpu][layout]") {
    for (DType t : {DType::Q4_K, DType::Q8_0, DType::F16}) {
        const auto l = kernels::matrix_layout(t, 4096, 4096);
        CHECK(l.total_bytes() == *row_bytes(t, 4096) * 4096);
    }
    // Q6_K pads its fp16 d to 4 bytes (aligned asynchronous copies): 212 bytes per 210.
    const auto q6 = kernels::matrix_layout(DType::Q6_K, 4096, 4096);
    CHECK(q6.total_bytes() == std::uint64_t(4096) * 16 * 212);
    CHECK_THROWS_AS(kernels::matrix_layout(DType::Q4_0, 4, 32), Error);
}

TEST_CASE("quantized rows in whole tiles interleave per super-block; chunked repacks agree", "[gpu][layout]") {
    CHECK(kernels::matrix_layout(DType::Q4_K, 4096, 4096).group_rows == kernels::kGroupRows);
    CHECK(kernels::matrix_layout(DType::Q6_K, 11008, 4096).group_rows == kernels::kGroupRows);
    CHECK(kernels::matrix_layout(DType::Q8_0, 64, 512).group_rows == kernels::kGroupRows);
    CHECK(kernels::matrix_layout(DType::Q4_K, 300, 512).group_rows == 1);  // partial tile: row-major
    CHECK(kernels::matrix_layout(DType::F16, 4096, 4096).group_rows == 1);  // TMA reads F16 rows
    for (DType t : {DType::Q4_K, DType::Q6_K, DType::Q8_0}) {
        INFO(dtype_name(t));
        const HostMatrix m = random_matrix(t, 48, 768, 77);
        const TensorView v = m.view();
        const auto grouped = kernels::matrix_layout(t, m.rows, m.cols);
        REQUIRE(grouped.group_rows == 16);
        auto plain = grouped;
        plain.group_rows = 1;
        auto image = [&](const kernels::MatrixLayout& l, std::uint64_t begin, std::uint64_t end, std::uint64_t origin,
                         std::vector<std::byte>& p, std::vector<std::byte>& me, std::vector<std::byte>& a) {
            kernels::repack_rows(v, l, begin, end, p.data() + l.payload_offset(std::uint32_t(origin)),
                                 me.data() + l.meta_offset(std::uint32_t(origin)), a.data() + l.aux_offset(std::uint32_t(origin)),
                                 nullptr, origin);
        };
        const std::size_t pb = plain.payload_bytes(), mb = std::max<std::uint64_t>(plain.meta_bytes(), 1),
                          ab = std::max<std::uint64_t>(plain.aux_bytes(), 1);
        std::vector<std::byte> pp(pb), pm(mb), pa(ab), gp(pb, std::byte{0xAB}), gm(mb, std::byte{0xAB}), ga(ab, std::byte{0xAB});
        image(plain, 0, m.rows, 0, pp, pm, pa);
        // The grouped image in pieces, as the upload writes it: chunks of whole groups, each
        // filled by several threads' row ranges that do not start a group.
        image(grouped, 0, 5, 0, gp, gm, ga);
        image(grouped, 5, 16, 0, gp, gm, ga);
        image(grouped, 16, 37, 16, gp, gm, ga);
        image(grouped, 37, 48, 16, gp, gm, ga);
        auto same = [&](const std::vector<std::byte>& a, const std::vector<std::byte>& b, std::uint64_t ao, std::uint64_t bo,
                        std::uint32_t n) { return std::memcmp(a.data() + ao, b.data() + bo, n) == 0; };
        int mismatches = 0;
        for (std::uint32_t r = 0; r < m.rows; ++r)
            for (std::uint32_t sb = 0; sb < grouped.nsb; ++sb) {
                mismatches += !same(pp, gp, plain.payload_offset(r) + sb * plain.payload_step(),
                                    grouped.payload_offset(r) + sb * grouped.payload_step(), grouped.payload_sb);
                mismatches += !same(pm, gm, plain.meta_offset(r) + sb * plain.meta_step(),
                                    grouped.meta_offset(r) + sb * grouped.meta_step(), grouped.meta_sb);
                mismatches += !same(pa, ga, plain.aux_offset(r) + sb * plain.aux_step(),
                                    grouped.aux_offset(r) + sb * grouped.aux_step(), grouped.aux_sb);
            }
        CHECK(mismatches == 0);
        // Every byte of the grouped images was written (no 0xAB filler left in a cell).
        CHECK(std::multiset<std::byte>(gp.begin(), gp.end()) == std::multiset<std::byte>(pp.begin(), pp.end()));
        // A cell of 16 rows is contiguous: rows r and r + 1 of a group are one SB-row apart.
        CHECK(grouped.payload_offset(17) - grouped.payload_offset(16) == grouped.payload_sb);
        CHECK(grouped.payload_step() == 16ull * grouped.payload_sb);
    }
    CHECK_THROWS_AS(kernels::repack_rows(random_matrix(DType::Q4_K, 32, 256, 1).view(),
                                         kernels::matrix_layout(DType::Q4_K, 32, 256), 20, 32, nullptr, nullptr, nullptr,
                                         nullptr, 8),
                    Error);  // origin inside a group
}

TEST_CASE("GEMV staging in shared memory starts at an odd multiple of 16 bytes", "[gpu][layout]") {
    // The H100 decode step is 4% slower with the cp.async stages at a multiple of 32 bytes
    // (docs/BENCHMARKS.md, "stage placement"); every tuning in use and K up to 11008 keep the rule.
    auto check_policy = [&]<DType T, class Tune>() {
        using P = kernels::GemvPolicy<Arch, T, Tune>;
        for (std::uint32_t nsb = 1; nsb <= 64; ++nsb) {
            const auto l = P::smem(nsb);
            INFO(dtype_name(T) << " waves " << P::waves << " stages " << P::stages << " nsb " << nsb);
            CHECK(l.stage % 32 == 16);
            CHECK(l.stage >= l.scratch + std::uint32_t(P::threads) * 8u);  // after the reduction scratch
            CHECK(l.total == l.stage + std::uint32_t(P::stages * P::waves * P::lane_chunks * P::wave * 16));
        }
    };
    using kernels::GemvTune;
    check_policy.template operator()<DType::Q4_K, GemvTune<GRETA_TUNE_Q4K_NARROW>>();
    check_policy.template operator()<DType::Q6_K, GemvTune<GRETA_TUNE_Q6K_NARROW>>();
    check_policy.template operator()<DType::Q6_K, GemvTune<GRETA_TUNE_Q6K_WIDE>>();
    check_policy.template operator()<DType::Q8_0, kernels::GemvDefaultTune<Arch, DType::Q8_0>>();
    check_policy.template operator()<DType::Q4_K, GemvTune<GRETA_TUNE_Q4K_WIDE>>();
}

TEST_CASE("two-format launches split their blocks so the busiest block reads the least", "[gpu][layout]") {
    // Q4_K_M 7B Q/K/V: 512 Q4_K groups of 16 rows x 16 super-blocks (36,864 bytes), 256 Q6_K
    // groups (53,760 bytes), 396 resident blocks (3 per SM on 132 SMs): two groups per block at most.
    const std::uint64_t q4 = 16ull * 16 * 144, q6 = 16ull * 16 * 210;
    const auto s7b = kernels::two_format_split(512, 256, 512 * q4, 256 * q6, 396);
    CHECK(s7b.busiest_bytes == double(2 * q6));
    CHECK(s7b.first_blocks >= 256);             // every Q4_K block has at most 2 groups
    CHECK(s7b.grid - s7b.first_blocks >= 128);  // every Q6_K block has at most 2 groups
    CHECK(s7b.grid <= 396);
    // Any shape: within what fits, every block has groups, and no block reads more than under
    // the old split in proportion to the formats' bytes.
    for (std::uint32_t f : {3u, 100u, 512u, 1000u})
        for (std::uint32_t sg : {1u, 77u, 256u})
            for (std::uint32_t fit : {2u, 50u, 396u}) {
                if (f + sg <= fit) continue;  // the launch splits only when the groups do not fit
                const std::uint64_t fb = f * q4, sb = sg * q6;
                const auto split = kernels::two_format_split(f, sg, fb, sb, fit);
                INFO("groups " << f << " + " << sg << ", fit " << fit);
                CHECK(split.first_blocks >= 1);
                CHECK(split.first_blocks <= f);
                CHECK(split.grid > split.first_blocks);
                CHECK(split.grid - split.first_blocks <= sg);
                CHECK(split.grid <= fit);
                const std::uint32_t nb = std::min(std::clamp<std::uint32_t>(std::uint32_t(double(fit) * double(fb) / double(fb + sb) + 0.5), 1, fit - 1), f);
                const std::uint32_t m = std::min(fit - nb, sg);
                const double by_bytes = std::max(double((f + nb - 1) / nb * q4), double((sg + m - 1) / m * q6));
                CHECK(split.busiest_bytes <= by_bytes);
                const auto again = kernels::two_format_split(f, sg, fb, sb, fit);  // cached answer
                CHECK(again.first_blocks == split.first_blocks);
                CHECK(again.grid == split.grid);
            }
}

TEST_CASE("embedding kernel dequantizes every format exactly like the host", "[gpu][embed]") {
    GRETA_GPU_OR_SKIP();
    auto run = [&]<DType T>(std::uint32_t cols) {
        const HostMatrix m = random_matrix(T, 6, cols, 77 + cols);
        const DevMatrix dm = to_device(m);
        gpu::DeviceBuffer out(cols * 4);
        gpu::Stream s;
        for (std::uint32_t r = 0; r < m.rows; ++r) {
            kernels::embed_launch<Arch, T>(s, dm.dev(), nullptr, r, out.as<float>());
            s.synchronize();
            const auto got = download<float>(out, cols);
            const auto ref = m.row(r);
            INFO(dtype_name(T) << " row " << r << " cols " << cols);
            REQUIRE(std::memcmp(got.data(), ref.data(), cols * 4) == 0);
        }
    };
    run.operator()<DType::Q4_K>(512);
    run.operator()<DType::Q6_K>(768);
    run.operator()<DType::Q8_0>(512);
    run.operator()<DType::Q8_0>(96);  // a partial super-block
    run.operator()<DType::F16>(300);
    run.operator()<DType::BF16>(256);
    run.operator()<DType::F32>(8);
}

TEST_CASE("quantized weights dequantized to fp16 rows (prefill on TMA) match the host", "[gpu][gemm][tma]") {
    GRETA_GPU_OR_SKIP();
    auto run = [&]<DType T>(std::uint32_t rows, std::uint32_t cols) {
        const HostMatrix m = random_matrix(T, rows, cols, 91 + rows + cols);
        const DevMatrix dm = to_device(m);
        const std::uint32_t k = dm.layout.nsb * kernels::kSbValues;
        gpu::DeviceBuffer out(std::size_t(rows) * k * 2);
        gpu::check(gpu::vendor::memset_async(out.data(), 0xFF, out.size(), nullptr), "test fill");  // NaNs
        gpu::Stream s;
        kernels::dequant_rows_launch<Arch, T>(s, dm.dev(), out.as<std::uint16_t>());
        s.synchronize();
        const auto got = download<std::uint16_t>(out, std::size_t(rows) * k);
        for (std::uint32_t r = 0; r < rows; ++r) {
            const auto ref = m.row(r);
            float row_max = 0.0f;
            for (float v : ref) row_max = std::max(row_max, std::fabs(v));
            INFO(dtype_name(T) << " " << rows << " x " << cols << " (grouped rows: " << (dm.layout.group_rows > 1)
                               << "), row " << r);
            for (std::uint32_t i = 0; i < k; ++i) {
                const float g = fp16_to_f32(got[std::size_t(r) * k + i]);
                if (i >= cols) {
                    REQUIRE(g == 0.0f);  // K padding: zero weights
                    continue;
                }
                // fp16 scale, product and min: a few fp16 ulps of the row's magnitude.
                INFO("k " << i << ": " << g << " vs " << ref[i]);
                REQUIRE(std::fabs(g - ref[i]) <= 1e-3f * std::fabs(ref[i]) + 2e-3f * row_max);
            }
        }
    };
    run.operator()<DType::Q4_K>(80, 512);   // grouped rows, two 64-row tiles (the second partial)
    run.operator()<DType::Q6_K>(70, 768);   // row-major (70 is no multiple of 16)
    run.operator()<DType::Q8_0>(48, 96);    // a partial super-block
}

TEST_CASE("embedding kernel matches llama.cpp's dequantization bit for bit", "[gpu][embed][fixtures]") {
    GRETA_GPU_OR_SKIP();
    struct Case {
        const char* model;
        const char* tensor;
        const char* fixture;
    };
    const Case cases[] = {
        {"models/synthetic-tiny-q4_k_m.gguf", "blk.0.attn_q.weight", "fixtures/ref/synthetic-tiny-q4_k_m.blk.0.attn_q.weight.Q4_K.dequant.f32"},
        {"models/synthetic-tiny-q4_k_m.gguf", "blk.1.ffn_down.weight", "fixtures/ref/synthetic-tiny-q4_k_m.blk.1.ffn_down.weight.Q6_K.dequant.f32"},
        {"models/synthetic-tiny-q4_k_m.gguf", "output.weight", "fixtures/ref/synthetic-tiny-q4_k_m.output.weight.Q6_K.dequant.f32"},
        {"models/synthetic-tiny-q8_0.gguf", "blk.0.attn_q.weight", "fixtures/ref/synthetic-tiny-q8_0.blk.0.attn_q.weight.Q8_0.dequant.f32"},
    };
    for (const Case& c : cases) {
        GRETA_SHARED_OR_SKIP(model_path, c.model);
        GRETA_SHARED_OR_SKIP(fixture_path, c.fixture);
        const auto file = io::GgufFile::open(model_path);
        const TensorView* t = file->find_tensor(c.tensor);
        REQUIRE(t != nullptr);
        const auto expected = test::read_array<float>(fixture_path);
        REQUIRE(expected.size() == t->n_elements());
        const auto layout = kernels::matrix_layout(t->type, t->rows(), t->cols());
        std::vector<std::byte> p(layout.payload_bytes()), me(std::max<std::uint64_t>(layout.meta_bytes(), 1)),
            a(std::max<std::uint64_t>(layout.aux_bytes(), 1));
        kernels::repack_rows(*t, layout, 0, layout.rows, p.data(), me.data(), a.data());
        auto dp = upload(p), dm = upload(me), da = upload(a);
        const kernels::DeviceMatrix dev{dp.as<const std::byte>(), dm.as<const std::byte>(), da.as<const std::byte>(), layout};
        gpu::DeviceBuffer out(layout.k * 4);
        gpu::Stream s;
        std::size_t mismatches = 0;
        for (std::uint32_t r = 0; r < layout.rows; ++r) {
            kernels::dispatch_format(t->type, [&]<DType T>() { kernels::embed_launch<Arch, T>(s, dev, nullptr, r, out.as<float>()); });
            s.synchronize();
            const auto got = download<float>(out, layout.k);
            mismatches += std::memcmp(got.data(), expected.data() + std::size_t(r) * layout.k, layout.k * 4) != 0;
        }
        INFO(c.model << " " << c.tensor);
        CHECK(mismatches == 0);
    }
}

TEST_CASE("GEMV matches an FP64 reference for every format", "[gpu][gemv]") {
    GRETA_GPU_OR_SKIP();
    const bool norm = GENERATE(false, true);
    check_plain_gemv<DType::Q4_K>(300, 512, norm);
    check_plain_gemv<DType::Q4_K>(64, 2816, norm);  // 11 super-blocks: uneven over the waves
    check_plain_gemv<DType::Q6_K>(300, 768, norm);
    check_plain_gemv<DType::Q6_K>(40, 2816, norm);
    check_plain_gemv<DType::Q8_0>(130, 512, norm);
    check_plain_gemv<DType::Q8_0>(33, 96, norm);  // K not a multiple of 256
    check_plain_gemv<DType::F16>(100, 300, norm);
    check_plain_gemv<DType::F16>(17, 8, norm);
    check_plain_gemv<DType::BF16>(50, 256, norm);
    check_plain_gemv<DType::F32>(70, 172, norm);
}

TEST_CASE("GEMV tunings picked by size (narrow and wide) agree with the reference", "[gpu][gemv]") {
    GRETA_GPU_OR_SKIP();
    check_plain_gemv<DType::Q4_K>(4096, 1024, true, true);
    check_plain_gemv<DType::Q4_K>(16400, 512, true, true);  // wide, partial last block
    check_plain_gemv<DType::Q6_K>(4000, 768, true, true);
    check_plain_gemv<DType::Q6_K>(16384, 512, false, true);
}

/// Q and K in Q4_K, V in Q6_K (a Q4_K_M layer) over one normed input, run as one mixed-format
/// launch by `launch(args)`, outputs poisoned (NaN) first so that a row no block wrote cannot pass.
template <class Launch>
void check_mixed_qkv(std::uint32_t rq, std::uint32_t rk, std::uint32_t rv, std::uint64_t seed, Launch launch,
                     bool from_image = false) {
    constexpr std::uint32_t D = 512;
    const HostMatrix wq = random_matrix(DType::Q4_K, rq, D, seed), wk = random_matrix(DType::Q4_K, rk, D, seed + 1),
                     wv = random_matrix(DType::Q6_K, rv, D, seed + 2);
    const DevMatrix dq = to_device(wq), dk = to_device(wk), dv = to_device(wv);
    const auto x = random_vector(D, seed + 3, -2.0f, 2.0f), nw = random_vector(D, seed + 4, 0.5f, 1.5f);
    auto dx = upload(x), dn = upload(nw);
    gpu::DeviceBuffer yq(rq * 4), yk(rk * 4), yv(rv * 4);
    gpu::check(gpu::vendor::memset_async(yq.data(), 0xFF, yq.size(), nullptr), "poison");
    gpu::check(gpu::vendor::memset_async(yk.data(), 0xFF, yk.size(), nullptr), "poison");
    gpu::check(gpu::vendor::memset_async(yv.data(), 0xFF, yv.size(), nullptr), "poison");
    gpu::check(gpu::vendor::device_sync(), "poison sync");
    const HostImage hi = host_image(x, &nw);
    auto dpoison = upload(std::vector<float>(D, std::numeric_limits<float>::quiet_NaN()));
    auto dimg = upload(hi.image), dparts = upload(hi.parts);
    kernels::GemvArgs a;
    a.x = from_image ? dpoison.as<const float>() : dx.as<const float>();
    a.norm = dn.as<const float>();
    if (from_image) {
        a.x_image = dimg.as<const std::uint16_t>();
        a.x_parts = dparts.as<const float>();
    }
    a.n_seg = 3;
    a.seg[0].w = dq.dev();
    a.seg[0].out = yq.as<float>();
    a.seg[1].w = dk.dev();
    a.seg[1].out = yk.as<float>();
    a.seg[2].w = dv.dev();
    a.seg[2].out = yv.as<float>();
    launch(a);
    const auto gq = download<float>(yq, rq), gk = download<float>(yk, rk), gv = download<float>(yv, rv);
    auto finite = [](const std::vector<float>& g) { return std::all_of(g.begin(), g.end(), [](float v) { return std::isfinite(v); }); };
    CHECK(finite(gq));
    CHECK(finite(gk));
    CHECK(finite(gv));
    CHECK(max_rel_error(gq, reference_gemv(wq, x, &nw)) <= 2e-3);
    CHECK(max_rel_error(gk, reference_gemv(wk, x, &nw)) <= 2e-3);
    CHECK(max_rel_error(gv, reference_gemv(wv, x, &nw)) <= 2e-3);
}

TEST_CASE("one launch with Q/K in Q4_K and V in Q6_K (Q4_K_M layers)", "[gpu][gemv]") {
    GRETA_GPU_OR_SKIP();
    gpu::Stream s;
    check_mixed_qkv(512, 256, 256, 51, [&](const kernels::GemvArgs& a) { kernels::gemv_launch_qkv_q4k_q6k<Arch>(s, a); });
}

TEST_CASE("Q4_K/Q6_K Q/K/V launch with more row groups than fit at once", "[gpu][gemv]") {
    GRETA_GPU_OR_SKIP();
    // More groups than resident blocks on any current GPU, so the persistent variant gives
    // blocks several groups of their format; V's row count leaves a partial last group.
    const bool persistent = GENERATE(false, true);
    const bool from_image = GENERATE(false, true);
    INFO("persistent " << persistent << " x from an image " << from_image);
    gpu::Stream s;
    check_mixed_qkv(
        6144, 1024, 2056, 61,
        [&](const kernels::GemvArgs& a) { kernels::gemv_launch_qkv_q4k_q6k<Arch>(s, a, false, persistent); }, from_image);
}

TEST_CASE("GEMV epilogues: residual add, SwiGLU (fused and split), logits argmax", "[gpu][gemv]") {
    GRETA_GPU_OR_SKIP();
    constexpr std::uint32_t K = 512, R = 200;
    const HostMatrix gate = random_matrix(DType::Q4_K, R, K, 1), up = random_matrix(DType::Q4_K, R, K, 2);
    const DevMatrix dgate = to_device(gate), dup = to_device(up);
    const auto x = random_vector(K, 3, -2.0f, 2.0f), nw = random_vector(K, 4, 0.5f, 1.5f);
    auto dx = upload(x), dn = upload(nw);
    const auto rg = reference_gemv(gate, x, &nw), ru = reference_gemv(up, x, &nw);
    auto silu = [](double v) { return v / (1.0 + std::exp(-v)); };
    gpu::Stream s;

    SECTION("Add") {
        const auto init = random_vector(R, 9);
        auto dy = upload(init);
        const auto a = one_segment_args(dx.as<const float>(), dn.as<const float>(), dgate, kernels::GemvEpilogue::Add, dy.as<float>());
        kernels::gemv_launch<Arch, DType::Q4_K>(s, a);
        const auto y = download<float>(dy, R);
        std::vector<double> ref(R);
        for (std::uint32_t r = 0; r < R; ++r) ref[r] = init[r] + rg[r];
        CHECK(max_rel_error(y, ref) <= 2e-3);
    }
    SECTION("SiluPair in one launch, and gate + MulSilu in two") {
        std::vector<double> ref(R);
        for (std::uint32_t r = 0; r < R; ++r) ref[r] = silu(rg[r]) * ru[r];
        gpu::DeviceBuffer dh(R * 4), dtmp(R * 4);
        auto a = one_segment_args(dx.as<const float>(), dn.as<const float>(), dgate, kernels::GemvEpilogue::SiluPair, dh.as<float>());
        a.seg[0].w2 = dup.dev();
        kernels::gemv_launch<Arch, DType::Q4_K>(s, a);
        CHECK(max_rel_error(download<float>(dh, R), ref) <= 2e-3);

        kernels::GemvArgs g = a;
        g.seg[0].w2 = {};
        g.seg[0].epilogue = kernels::GemvEpilogue::Store;
        g.seg[0].out = dtmp.as<float>();
        kernels::gemv_launch<Arch, DType::Q4_K>(s, g);
        kernels::GemvArgs u = g;
        u.seg[0].w = dup.dev();
        u.seg[0].epilogue = kernels::GemvEpilogue::MulSilu;
        u.seg[0].other = dtmp.as<const float>();
        u.seg[0].out = dh.as<float>();
        kernels::gemv_launch<Arch, DType::Q4_K>(s, u);
        CHECK(max_rel_error(download<float>(dh, R), ref) <= 2e-3);
    }
    SECTION("Logits with a greedy argmax across blocks, twice (the ticket resets)") {
        constexpr std::uint32_t V = 1000;
        const HostMatrix lm = random_matrix(DType::Q6_K, V, K, 11);
        const DevMatrix dlm = to_device(lm);
        const auto ref = reference_gemv(lm, x, &nw);
        const std::uint32_t blocks = kernels::GemvPolicy<Arch, DType::Q6_K>::blocks_for(V, false);
        gpu::DeviceBuffer logits(V * 4), av(blocks * 4), ai(blocks * 4), cnt(16), tok(16);
        gpu::check(gpu::vendor::memset_async(cnt.data(), 0, 16, nullptr), "clear");
        for (int rep = 0; rep < 2; ++rep) {
            gpu::check(gpu::vendor::memset_async(tok.data(), 0xFF, 16, nullptr), "poison");
            kernels::GemvArgs a;
            a.x = dx.as<const float>();
            a.norm = dn.as<const float>();
            a.seg[0].w = dlm.dev();
            a.seg[0].epilogue = kernels::GemvEpilogue::Logits;
            a.seg[0].out = logits.as<float>();
            a.arg_val = av.as<float>();
            a.arg_idx = ai.as<std::int32_t>();
            a.counter = cnt.as<std::uint32_t>();
            a.token_out = tok.as<std::int32_t>();
            kernels::gemv_launch<Arch, DType::Q6_K>(s, a);
            const auto y = download<float>(logits, V);
            CHECK(max_rel_error(y, ref) <= 2e-3);
            const auto t = download<std::int32_t>(tok, 1)[0];
            CHECK(t == std::int32_t(std::max_element(y.begin(), y.end()) - y.begin()));
            CHECK(download<std::uint32_t>(cnt, 1)[0] == 0u);
        }
    }
}

TEST_CASE("GEMV with RoPE: Q, K and V segments in one launch write q and the caches", "[gpu][gemv][rope]") {
    GRETA_GPU_OR_SKIP();
    constexpr std::uint32_t D = 512, HD = 64, QD = 512, KVD = 128, CTX = 64, POS = 37;
    const HostMatrix wq = random_matrix(DType::Q4_K, QD, D, 21), wk = random_matrix(DType::Q4_K, KVD, D, 22),
                     wv = random_matrix(DType::Q4_K, KVD, D, 23);
    const DevMatrix dq = to_device(wq), dk = to_device(wk), dv = to_device(wv);
    const auto x = random_vector(D, 24, -2.0f, 2.0f), nw = random_vector(D, 25, 0.5f, 1.5f);
    auto dx = upload(x), dn = upload(nw);
    const std::vector<std::int32_t> pos{std::int32_t(POS)};
    auto dpos = upload(pos);
    gpu::DeviceBuffer q(QD * 4), kc(CTX * KVD * 2), vc(CTX * KVD * 2);
    gpu::check(gpu::vendor::memset_async(kc.data(), 0, kc.size(), nullptr), "clear");
    gpu::check(gpu::vendor::memset_async(vc.data(), 0, vc.size(), nullptr), "clear");
    kernels::GemvArgs a;
    a.x = dx.as<const float>();
    a.norm = dn.as<const float>();
    a.pos = dpos.as<const std::int32_t>();
    const auto table = kernels::rope_table(CTX, HD, 10000.0f);
    auto drope = upload(table);
    a.rope = drope.as<const float2>();
    a.head_dim = HD;
    a.n_seg = 3;
    a.seg[0].w = dq.dev();
    a.seg[0].epilogue = kernels::GemvEpilogue::RopeStore;
    a.seg[0].out = q.as<float>();
    a.seg[1].w = dk.dev();
    a.seg[1].epilogue = kernels::GemvEpilogue::RopeToCache;
    a.seg[1].cache = kc.as<std::uint16_t>();
    a.seg[1].cache_stride = KVD;
    a.seg[2].w = dv.dev();
    a.seg[2].epilogue = kernels::GemvEpilogue::ToCache;
    a.seg[2].cache = vc.as<std::uint16_t>();
    a.seg[2].cache_stride = KVD;
    gpu::Stream s;
    kernels::gemv_launch<Arch, DType::Q4_K>(s, a);

    auto rope = [&](std::vector<double> v) {
        for (std::size_t i = 0; i + 1 < v.size(); i += 2) {
            const std::size_t pair = (i % HD) / 2;
            const double ang = POS * std::pow(10000.0, -2.0 * double(pair) / HD);
            const double x0 = v[i], x1 = v[i + 1];
            v[i] = x0 * std::cos(ang) - x1 * std::sin(ang);
            v[i + 1] = x0 * std::sin(ang) + x1 * std::cos(ang);
        }
        return v;
    };
    const auto rq = rope(reference_gemv(wq, x, &nw)), rk = rope(reference_gemv(wk, x, &nw));
    const auto rv = reference_gemv(wv, x, &nw);
    CHECK(max_rel_error(download<float>(q, QD), rq) <= 2e-3);
    const auto kh = download<std::uint16_t>(kc, CTX * KVD), vh = download<std::uint16_t>(vc, CTX * KVD);
    std::vector<float> kg(KVD), vg(KVD);
    for (std::uint32_t i = 0; i < KVD; ++i) {
        kg[i] = fp16_to_f32(kh[POS * KVD + i]);
        vg[i] = fp16_to_f32(vh[POS * KVD + i]);
    }
    CHECK(max_rel_error(kg, rk) <= 3e-3);  // plus fp16 storage rounding
    CHECK(max_rel_error(vg, rv) <= 3e-3);
    bool others_untouched = true;
    for (std::uint32_t p = 0; p < CTX; ++p)
        for (std::uint32_t i = 0; i < KVD && p != POS; ++i) others_untouched &= kh[p * KVD + i] == 0 && vh[p * KVD + i] == 0;
    CHECK(others_untouched);
}

TEST_CASE("decode attention matches an FP64 reference (GQA, split along the sequence)", "[gpu][attention]") {
    GRETA_GPU_OR_SKIP();
    auto run = [&]<int HD>(std::uint32_t n_pos, std::uint32_t min_chunk = 32) {
        constexpr std::uint32_t NH = 8, NKV = 2, CTX = 4096;
        const std::uint32_t kvd = NKV * HD;
        const std::vector<float> q = random_vector(NH * HD, 31 + n_pos, -1.5f, 1.5f);
        std::vector<std::uint16_t> kh(std::size_t(CTX) * kvd), vh(std::size_t(CTX) * kvd);
        model::synthetic::Rng rng(HD, n_pos, 1);
        for (std::size_t i = 0; i < std::size_t(n_pos) * kvd; ++i) {
            kh[i] = f32_to_fp16(2.0f * rng.uniform() - 1.0f);
            vh[i] = f32_to_fp16(2.0f * rng.uniform() - 1.0f);
        }
        gpu::DeviceBuffer dq = upload(q), dk = upload(kh), dv = upload(vh);
        const std::uint32_t splits = 32;
        gpu::DeviceBuffer out(NH * HD * 4), out_image(NH * HD * 2), part(NH * splits * (HD + 2) * 4), cnt(NH * 4);
        gpu::check(gpu::vendor::memset_async(cnt.data(), 0, cnt.size(), nullptr), "clear");
        const std::vector<std::int32_t> pos{std::int32_t(n_pos - 1)};
        gpu::DeviceBuffer dpos = upload(pos);
        kernels::AttentionArgs a;
        a.q = dq.as<const float>();
        a.k_cache = dk.as<const std::uint16_t>();
        a.v_cache = dv.as<const std::uint16_t>();
        a.out = out.as<float>();
        a.out_image = out_image.as<std::uint16_t>();
        a.partial = part.as<float>();
        a.counters = cnt.as<std::uint32_t>();
        a.pos = dpos.as<const std::int32_t>();
        a.n_heads = NH;
        a.n_kv_heads = NKV;
        a.kv_stride = kvd;
        a.splits = splits;
        a.min_chunk = min_chunk;
        a.max_chunk = std::max(min_chunk, CTX / splits);
        a.scale = 1.0f / std::sqrt(float(HD));
        gpu::Stream s;
        kernels::attention_launch<Arch, HD>(s, a);
        const auto got = download<float>(out, NH * HD);
        const auto ref = reference_attention(q.data(), kh, vh, NH, NKV, HD, n_pos);
        INFO("head_dim " << HD << " positions " << n_pos << " min chunk " << min_chunk);
        CHECK(max_rel_error(got, ref) <= 2e-5);
        CHECK(download<std::uint32_t>(cnt, NH) == std::vector<std::uint32_t>(NH, 0u));
        const auto img = download<std::uint16_t>(out_image, NH * HD);  // the O projection's image of out
        int bad = 0;
        for (std::uint32_t i = 0; i < NH * HD; ++i) bad += img[kernels::image_position(i)] != f32_to_fp16(got[i]);
        CHECK(bad == 0);
    };
    for (std::uint32_t n : {1u, 33u, 700u, 4096u}) {
        run.operator()<128>(n);
        run.operator()<64>(n);
        run.operator()<8>(n);
        run.operator()<4>(n);
    }
    // Chunks longer than the keys and values a block loads before the wait (the backend's
    // minimum chunk is 128 positions; one split up to 300).
    for (std::uint32_t n : {129u, 300u, 700u}) {
        run.operator()<128>(n, 256);
        run.operator()<64>(n, 256);
    }
}

TEST_CASE("launch errors name the op and the caller", "[gpu][launch]") {
    GRETA_GPU_OR_SKIP();
    gpu::Stream s;
    gpu::LaunchConfig cfg;
    cfg.block = dim3(kernels::RmsNormKernel<Arch>::max_block_threads * 2);
    try {
        gpu::launch<kernels::RmsNormKernel<Arch>>("rmsnorm test", s, cfg, (const float*)nullptr, (const float*)nullptr,
                                                  (float*)nullptr, 0u, 1e-5f);
        FAIL("expected an error");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("rmsnorm test") != std::string::npos);
    }
}

TEST_CASE("standalone RMSNorm matches the FP64 formula", "[gpu][rmsnorm]") {
    GRETA_GPU_OR_SKIP();
    constexpr std::uint32_t N = 4096;
    const auto x = random_vector(N, 41, -3.0f, 3.0f), w = random_vector(N, 42, 0.5f, 1.5f);
    auto dx = upload(x), dw = upload(w);
    gpu::DeviceBuffer dy(N * 4);
    gpu::Stream s;
    kernels::rmsnorm_launch<Arch>(s, dx.as<const float>(), dw.as<const float>(), dy.as<float>(), N, 1e-5f);
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const double sc = 1.0 / std::sqrt(ss / N + 1e-5);
    std::vector<double> ref(N);
    for (std::uint32_t i = 0; i < N; ++i) ref[i] = x[i] * sc * w[i];
    CHECK(max_rel_error(download<float>(dy, N), ref) <= 1e-6);
}

// ---- prefill: matrix-core GEMM and causal attention ----
// Tolerances: the GEMM rounds the packed activations and the scaled weights to fp16 (2^-11
// relative each) and sums in FP32: max |err| <= 4e-3 * max |ref|. The tensor-core attention
// rounds the scaled queries and the probabilities to fp16: 4e-3; the generic one is FP32: 2e-5.
namespace {

/// Y (M x rows) = W x_m for every row x_m of X, from reference_gemv.
std::vector<double> reference_gemm(const HostMatrix& w, const std::vector<float>& x, std::uint32_t m,
                                   const std::vector<float>* norm) {
    std::vector<double> y(std::size_t(m) * w.rows);
    for (std::uint32_t i = 0; i < m; ++i) {
        const std::vector<float> row(x.begin() + std::ptrdiff_t(i) * w.cols, x.begin() + std::ptrdiff_t(i + 1) * w.cols);
        const auto r = reference_gemv(w, row, norm);
        std::copy(r.begin(), r.end(), y.begin() + std::ptrdiff_t(i) * w.rows);
    }
    return y;
}

/// X packed for format T on the device.
template <DType T>
gpu::DeviceBuffer pack_on_device(const gpu::Stream& s, const gpu::DeviceBuffer& x, std::uint32_t m, std::uint32_t k,
                                 const float* norm) {
    gpu::DeviceBuffer packed(std::size_t(m) * kernels::packed_row_halves(k) * 2);
    kernels::PackArgs p;
    p.x = x.as<const float>();
    p.x_stride = k;
    p.k = k;
    p.norm = norm;
    p.out = packed.as<std::uint16_t>();
    kernels::pack_activations_launch<Arch, T>(s, p, m);
    return packed;
}

template <DType T>
void check_gemm(std::uint32_t m, std::uint32_t rows, std::uint32_t cols, bool with_norm) {
    const HostMatrix w = random_matrix(T, rows, cols, 7000 + rows + cols);
    const DevMatrix dw = to_device(w);
    const auto x = random_vector(std::size_t(m) * cols, m * 13 + cols, -2.0f, 2.0f);
    const auto g = random_vector(cols, 6, 0.5f, 1.5f);
    auto dx = upload(x), dg = upload(g);
    gpu::Stream s;
    gpu::DeviceBuffer packed = pack_on_device<T>(s, dx, m, cols, with_norm ? dg.as<const float>() : nullptr);
    gpu::DeviceBuffer dy(std::size_t(m) * rows * 4);
    kernels::GemmArgs a;
    a.x = packed.as<const std::uint16_t>();
    a.m = m;
    a.w = dw.dev();
    a.out = dy.as<float>();
    a.out_stride = rows;
    kernels::gemm_launch<Arch, T>(s, a);
    s.synchronize();
    const auto y = download<float>(dy, std::size_t(m) * rows);
    INFO(dtype_name(T) << " M " << m << " rows " << rows << " K " << cols << " norm " << with_norm);
    CHECK(max_rel_error(y, reference_gemm(w, x, m, with_norm ? &g : nullptr)) <= 4e-3);
}

}  // namespace

TEST_CASE("packed activations: every source index once per super-block, zeros past K", "[gpu][gemm][layout]") {
    for (std::uint32_t p0 = 0; p0 < 512; p0 += 256) {
        std::set<std::uint32_t> q4, q6, q8, f16;
        for (std::uint32_t p = p0; p < p0 + 256; ++p) {
            q4.insert(kernels::packed_source_index<Arch, DType::Q4_K>(p));
            q6.insert(kernels::packed_source_index<Arch, DType::Q6_K>(p));
            q8.insert(kernels::packed_source_index<Arch, DType::Q8_0>(p));
            f16.insert(kernels::packed_source_index<Arch, DType::F16>(p));
        }
        for (const auto* s : {&q4, &q6, &q8, &f16}) {
            CHECK(s->size() == 256u);
            CHECK(*s->begin() == p0);
            CHECK(*s->rbegin() == p0 + 255);
        }
    }
    CHECK(kernels::packed_row_halves(96) == 256u);
    CHECK(kernels::packed_row_halves(4096) == 4096u);
}

TEST_CASE("prefill GEMM matches an FP64 reference for every format, ragged shapes included", "[gpu][gemm]") {
    GRETA_GPU_OR_SKIP();
    const bool norm = GENERATE(false, true);
    check_gemm<DType::Q4_K>(1, 300, 512, norm);
    check_gemm<DType::Q4_K>(37, 130, 768, norm);    // 3 super-blocks: odd for the double buffer
    check_gemm<DType::Q4_K>(200, 257, 2816, norm);  // M and N past whole tiles
    check_gemm<DType::Q6_K>(129, 300, 768, norm);
    check_gemm<DType::Q6_K>(5, 40, 256, norm);
    check_gemm<DType::Q8_0>(64, 130, 512, norm);
    check_gemm<DType::Q8_0>(33, 33, 96, norm);  // K not a multiple of 256
    check_gemm<DType::F16>(100, 300, 300, norm);
    check_gemm<DType::F16>(17, 17, 8, norm);
    check_gemm<DType::BF16>(50, 64, 256, norm);
    check_gemm<DType::F32>(70, 70, 172, norm);
}

TEST_CASE("prefill GEMM epilogues: residual add, SwiGLU, RoPE into q and the caches", "[gpu][gemm]") {
    GRETA_GPU_OR_SKIP();
    constexpr std::uint32_t K = 512, M = 150, R = 200;
    const auto x = random_vector(std::size_t(M) * K, 61, -2.0f, 2.0f), nw = random_vector(K, 62, 0.5f, 1.5f);
    auto dx = upload(x), dn = upload(nw);
    gpu::Stream s;
    auto packed = pack_on_device<DType::Q4_K>(s, dx, M, K, dn.as<const float>());
    const HostMatrix gate = random_matrix(DType::Q4_K, R, K, 63), up = random_matrix(DType::Q4_K, R, K, 64);
    const DevMatrix dgate = to_device(gate), dup = to_device(up);
    const auto rg = reference_gemm(gate, x, M, &nw), ru = reference_gemm(up, x, M, &nw);
    auto silu = [](double v) { return v / (1.0 + std::exp(-v)); };
    kernels::GemmArgs base;
    base.x = packed.as<const std::uint16_t>();
    base.m = M;
    base.out_stride = R;

    SECTION("Add") {
        const auto init = random_vector(std::size_t(M) * R, 65);
        auto dy = upload(init);
        kernels::GemmArgs a = base;
        a.w = dgate.dev();
        a.epilogue = kernels::GemmEpilogue::Add;
        a.out = dy.as<float>();
        kernels::gemm_launch<Arch, DType::Q4_K>(s, a);
        std::vector<double> ref(rg.size());
        for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = init[i] + rg[i];
        CHECK(max_rel_error(download<float>(dy, ref.size()), ref) <= 4e-3);
    }
    SECTION("SiluPair in one launch, and gate + MulSilu in two") {
        std::vector<double> ref(rg.size());
        for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = silu(rg[i]) * ru[i];
        gpu::DeviceBuffer dh(ref.size() * 4), dtmp(ref.size() * 4);
        kernels::GemmArgs a = base;
        a.w = dgate.dev();
        a.w2 = dup.dev();
        a.epilogue = kernels::GemmEpilogue::SiluPair;
        a.out = dh.as<float>();
        kernels::gemm_launch<Arch, DType::Q4_K>(s, a);
        CHECK(max_rel_error(download<float>(dh, ref.size()), ref) <= 4e-3);

        kernels::GemmArgs g = base;
        g.w = dgate.dev();
        g.out = dtmp.as<float>();
        kernels::gemm_launch<Arch, DType::Q4_K>(s, g);
        kernels::GemmArgs u = base;
        u.w = dup.dev();
        u.epilogue = kernels::GemmEpilogue::MulSilu;
        u.other = dtmp.as<const float>();
        u.out = dh.as<float>();
        kernels::gemm_launch<Arch, DType::Q4_K>(s, u);
        CHECK(max_rel_error(download<float>(dh, ref.size()), ref) <= 4e-3);
    }
    SECTION("SiluPair written as fp16 in the down projection's packed order") {
        constexpr std::uint32_t RP = 256;  // whole super-blocks: the packed row needs no padding
        const HostMatrix g2 = random_matrix(DType::Q4_K, RP, K, 71), u2 = random_matrix(DType::Q4_K, RP, K, 72);
        const DevMatrix dg2 = to_device(g2), du2 = to_device(u2);
        const auto rg2 = reference_gemm(g2, x, M, &nw), ru2 = reference_gemm(u2, x, M, &nw);
        gpu::DeviceBuffer packed_out(std::size_t(M) * RP * 2);
        kernels::GemmArgs a = base;
        a.w = dg2.dev();
        a.w2 = du2.dev();
        a.epilogue = kernels::GemmEpilogue::SiluPair;
        a.packed = {packed_out.as<std::uint16_t>(), RP, DType::Q6_K};
        kernels::gemm_launch<Arch, DType::Q4_K>(s, a);
        const auto got = download<std::uint16_t>(packed_out, std::size_t(M) * RP);
        std::vector<float> unpacked(got.size());
        std::vector<double> ref(got.size());
        for (std::uint32_t m = 0; m < M; ++m)
            for (std::uint32_t n = 0; n < RP; ++n) {
                unpacked[m * RP + n] = fp16_to_f32(got[m * RP + kernels::packed_position<Arch>(DType::Q6_K, n)]);
                ref[m * RP + n] = silu(rg2[m * RP + n]) * ru2[m * RP + n];
            }
        CHECK(max_rel_error(unpacked, ref) <= 5e-3);  // plus fp16 storage rounding
    }
    SECTION("RoPE: q rotated by pos0 + m, k and v written to the cache at pos0 + m only") {
        constexpr std::uint32_t HD = 64, KVD = 128, POS0 = 21, CTX = POS0 + M + 9;
        const HostMatrix wk = random_matrix(DType::Q4_K, KVD, K, 66), wv = random_matrix(DType::Q4_K, KVD, K, 67);
        const DevMatrix dk = to_device(wk), dv = to_device(wv);
        const auto table = kernels::rope_table(CTX, HD, 10000.0f);
        auto drope = upload(table);
        gpu::DeviceBuffer q(std::size_t(M) * R * 4), kc(std::size_t(CTX) * KVD * 2), vc(std::size_t(CTX) * KVD * 2);
        gpu::check(gpu::vendor::memset_async(kc.data(), 0, kc.size(), nullptr), "clear");
        gpu::check(gpu::vendor::memset_async(vc.data(), 0, vc.size(), nullptr), "clear");
        kernels::GemmArgs a = base;
        a.rope = drope.as<const float2>();
        a.head_dim = HD;
        a.pos0 = POS0;
        // R = 200 query rows: not a whole number of heads is fine for the kernel (pairs are).
        a.w = dgate.dev();
        a.epilogue = kernels::GemmEpilogue::RopeStore;
        a.out = q.as<float>();
        kernels::gemm_launch<Arch, DType::Q4_K>(s, a);
        a.w = dk.dev();
        a.epilogue = kernels::GemmEpilogue::RopeToCache;
        a.out = nullptr;
        a.cache = kc.as<std::uint16_t>();
        a.cache_stride = KVD;
        kernels::gemm_launch<Arch, DType::Q4_K>(s, a);
        a.w = dv.dev();
        a.epilogue = kernels::GemmEpilogue::ToCache;
        a.cache = vc.as<std::uint16_t>();
        kernels::gemm_launch<Arch, DType::Q4_K>(s, a);

        auto rope = [&](std::vector<double> v, std::uint32_t width) {
            for (std::size_t i = 0; i + 1 < v.size(); i += 2) {
                const std::uint32_t pos = POS0 + std::uint32_t(i / width);
                const std::size_t pair = ((i % width) % HD) / 2;
                const double ang = pos * std::pow(10000.0, -2.0 * double(pair) / HD);
                const double x0 = v[i], x1 = v[i + 1];
                v[i] = x0 * std::cos(ang) - x1 * std::sin(ang);
                v[i + 1] = x0 * std::sin(ang) + x1 * std::cos(ang);
            }
            return v;
        };
        CHECK(max_rel_error(download<float>(q, std::size_t(M) * R), rope(rg, R)) <= 4e-3);
        const auto rk = rope(reference_gemm(wk, x, M, &nw), KVD), rv = reference_gemm(wv, x, M, &nw);
        const auto kh = download<std::uint16_t>(kc, std::size_t(CTX) * KVD), vh = download<std::uint16_t>(vc, std::size_t(CTX) * KVD);
        std::vector<float> kg(std::size_t(M) * KVD), vg(std::size_t(M) * KVD);
        for (std::size_t i = 0; i < kg.size(); ++i) {
            kg[i] = fp16_to_f32(kh[POS0 * KVD + i]);
            vg[i] = fp16_to_f32(vh[POS0 * KVD + i]);
        }
        CHECK(max_rel_error(kg, rk) <= 5e-3);  // plus fp16 storage rounding
        CHECK(max_rel_error(vg, rv) <= 5e-3);
        bool others_untouched = true;
        for (std::uint32_t p = 0; p < CTX; ++p)
            for (std::uint32_t i = 0; i < KVD && (p < POS0 || p >= POS0 + M); ++i)
                others_untouched &= kh[p * KVD + i] == 0 && vh[p * KVD + i] == 0;
        CHECK(others_untouched);
    }
}

TEST_CASE("prefill attention matches an FP64 causal reference (GQA, a chunk after cached positions)",
          "[gpu][attention][prefill]") {
    GRETA_GPU_OR_SKIP();
    auto run = [&]<int HD>(std::uint32_t m, std::uint32_t pos0) {
        constexpr std::uint32_t NH = 8, NKV = 2;
        const std::uint32_t kvd = NKV * HD, qd = NH * HD, ctx = pos0 + m + 70;
        const std::vector<float> q = random_vector(std::size_t(m) * qd, 91 + m + pos0, -1.5f, 1.5f);
        std::vector<std::uint16_t> kh(std::size_t(ctx) * kvd), vh(std::size_t(ctx) * kvd);
        model::synthetic::Rng rng(HD, m, pos0);
        for (std::size_t i = 0; i < kh.size(); ++i) {
            // Positions past the chunk hold garbage (NaN) that the kernel must never use.
            const bool live = i < std::size_t(pos0 + m) * kvd;
            kh[i] = live ? f32_to_fp16(2.0f * rng.uniform() - 1.0f) : 0x7E00;
            vh[i] = live ? f32_to_fp16(2.0f * rng.uniform() - 1.0f) : 0x7E00;
        }
        gpu::DeviceBuffer dq = upload(q), dk = upload(kh), dv = upload(vh), out(std::size_t(m) * qd * 4);
        kernels::PrefillAttentionArgs a;
        a.q = dq.as<const float>();
        a.q_stride = qd;
        a.k_cache = dk.as<const std::uint16_t>();
        a.v_cache = dv.as<const std::uint16_t>();
        a.out = out.as<float>();
        a.m = m;
        a.pos0 = pos0;
        a.n_heads = NH;
        a.n_kv_heads = NKV;
        a.kv_stride = kvd;
        a.scale = 1.0f / std::sqrt(float(HD));
        gpu::Stream s;
        kernels::prefill_attention_launch<Arch, HD>(s, a);
        const auto got = download<float>(out, std::size_t(m) * qd);
        // The same output packed for a Q4_K O projection: the fp16 of each value, at its place.
        if (qd % kernels::kSbValues == 0) {
            gpu::DeviceBuffer packed_out(std::size_t(m) * qd * 2);
            kernels::PrefillAttentionArgs p = a;
            p.packed = {packed_out.as<std::uint16_t>(), qd, DType::Q4_K};
            kernels::prefill_attention_launch<Arch, HD>(s, p);
            const auto ph = download<std::uint16_t>(packed_out, std::size_t(m) * qd);
            std::size_t mismatches = 0;
            for (std::uint32_t i = 0; i < m; ++i)
                for (std::uint32_t k = 0; k < qd; ++k)
                    mismatches += ph[std::size_t(i) * qd + kernels::packed_position<Arch>(DType::Q4_K, k)] !=
                                  f32_to_fp16(got[std::size_t(i) * qd + k]);
            CHECK(mismatches == 0u);
        }
        std::vector<double> ref;
        for (std::uint32_t i = 0; i < m; ++i) {  // query i sees positions 0 .. pos0 + i
            const auto row = reference_attention(q.data() + std::size_t(i) * qd, kh, vh, NH, NKV, HD, pos0 + i + 1);
            ref.insert(ref.end(), row.begin(), row.end());
        }
        INFO("head_dim " << HD << " M " << m << " pos0 " << pos0);
        CHECK(max_rel_error(got, ref) <= (kernels::flash_prefill_mma<Arch, HD> ? 4e-3 : 2e-5));
    };
    run.operator()<128>(100, 37);
    run.operator()<128>(64, 0);
    run.operator()<128>(1, 300);
    run.operator()<64>(130, 0);
    run.operator()<64>(33, 200);
    run.operator()<8>(20, 5);
    run.operator()<8>(300, 0);  // more keys than one tile of the generic kernel
}

TEST_CASE("F16 prefill GEMM on TMA + wgmma matches an FP64 reference (ragged, SwiGLU)", "[gpu][gemm][tma]") {
    GRETA_GPU_OR_SKIP();
    auto run = [&](std::uint32_t m, std::uint32_t rows, std::uint32_t cols, bool pair) {
        const HostMatrix w = random_matrix(DType::F16, rows, cols, 9100 + rows + cols);
        const HostMatrix w2 = random_matrix(DType::F16, rows, cols, 9200 + rows + cols);
        const DevMatrix dw = to_device(w), dw2 = to_device(w2);
        const auto x = random_vector(std::size_t(m) * cols, m * 7 + cols, -2.0f, 2.0f);
        const auto g = random_vector(cols, 8, 0.5f, 1.5f);
        auto dx = upload(x), dg = upload(g);
        gpu::Stream s;
        const std::uint32_t halves = kernels::packed_row_halves(cols);
        gpu::DeviceBuffer packed(std::size_t(m) * halves * 2);
        kernels::PackArgs p;
        p.x = dx.as<const float>();
        p.x_stride = cols;
        p.k = cols;
        p.norm = dg.as<const float>();
        p.out = packed.as<std::uint16_t>();
        p.natural = true;
        kernels::pack_activations_launch<Arch, DType::F16>(s, p, m);
        const auto& l = dw.layout;
        const std::vector<kernels::TmaDescriptor> maps = {
            kernels::encode_tma_f16(packed.data(), halves, m, std::uint64_t(halves) * 2, 128),
            kernels::encode_tma_f16(dw.payload.data(), std::uint64_t(l.nsb) * 256, rows, l.payload_row_bytes(), 64),
            kernels::encode_tma_f16((pair ? dw2 : dw).payload.data(), std::uint64_t(l.nsb) * 256, rows, l.payload_row_bytes(), 64)};
        gpu::DeviceBuffer dmaps(maps.size() * sizeof(kernels::TmaDescriptor));
        gpu::check(gpu::vendor::memcpy_h2d_async(dmaps.data(), maps.data(), dmaps.size(), nullptr), "upload maps");
        gpu::check(gpu::vendor::device_sync(), "sync");
        gpu::DeviceBuffer dy(std::size_t(m) * rows * 4);
        kernels::GemmArgs a;
        a.x = packed.as<const std::uint16_t>();
        a.m = m;
        a.w = dw.dev();
        a.w2 = dw2.dev();
        a.epilogue = pair ? kernels::GemmEpilogue::SiluPair : kernels::GemmEpilogue::Store;
        a.out = dy.as<float>();
        a.out_stride = rows;
        a.w = dw.dev();
        kernels::gemm_tma_f16_launch(s, a, dmaps.as<const kernels::TmaDescriptor>());
        s.synchronize();
        const auto y = download<float>(dy, std::size_t(m) * rows);
        auto ref = reference_gemm(w, x, m, &g);
        if (pair) {
            const auto ru = reference_gemm(w2, x, m, &g);
            for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = ref[i] / (1.0 + std::exp(-ref[i])) * ru[i];
        }
        INFO("M " << m << " rows " << rows << " K " << cols << " SwiGLU " << pair);
        CHECK(max_rel_error(y, ref) <= 4e-3);
    };
    run(1, 300, 512, false);
    run(200, 257, 768, false);  // M and N past whole tiles, 3 super-blocks
    run(129, 130, 300, true);   // K padded to 512
    run(64, 64, 256, false);
}
