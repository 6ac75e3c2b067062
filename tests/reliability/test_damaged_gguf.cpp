// Damaged real GGUF files through the whole load (reader, hyperparameters, vocabulary and
// tokenizer, weight binding, a CPU forward step), under the allocation guard and a watchdog.
// tests/io covers the reader alone: damage classes one by one on a small file, and a
// truncation sweep of stories260K; here the damage is spread over real files and regions.

#include <catch2/catch_test_macros.hpp>

#include <random>

#include "damage_util.hpp"

using namespace greta;
using namespace greta::test;

namespace {
const char* const kModels[] = {"models/stories260K-f32.gguf", "models/synthetic-tiny-q4_k_m.gguf",
                               "models/llama2-tiny-random-f16.gguf"};
}

TEST_CASE("undamaged shared GGUFs load fully under the guard", "[reliability][gguf]") {
    for (const char* rel : kModels) {
        GRETA_SHARED_OR_SKIP(path, rel);
        const Bytes b = file_bytes(path);
        const auto o = guarded_load(rel, b.size(), [&] { load_gguf_fully(b, path.filename().string()); });
        INFO(rel << ": " << o.message);
        CHECK(o.kind == LoadOutcome::Loaded);
        CHECK(o.refused == 0);
    }
}

TEST_CASE("the allocation guard refuses and reports an oversized allocation", "[reliability][guard]") {
    const std::size_t input = 1000;
    const auto o = guarded_load("oversized", input, [&] {
        std::vector<char> big(AllocationGuard::limit_for(input) + 1);
        big[0] = 1;
    });
    CHECK(o.kind == LoadOutcome::Other);
    CHECK(o.refused == AllocationGuard::limit_for(input) + 1);
    const auto fine = guarded_load("fits", input, [&] { std::vector<char> v(1 << 20, 1); });
    CHECK(fine.kind == LoadOutcome::Loaded);
    CHECK(fine.refused == 0);
    CHECK(fine.peak_growth >= (1 << 20));
}

TEST_CASE("GGUF truncated at 40 points over the whole file: open_model_file fails naming the file",
          "[reliability][gguf][truncation]") {
    for (const char* rel : kModels) {
        GRETA_SHARED_OR_SKIP(path, rel);
        const Bytes full = file_bytes(path);
        const auto cuts = spread_cuts(full.size(), 40);
        REQUIRE(cuts.size() >= 31);
        for (const std::size_t cut : cuts) {
            const auto file = scratch_dir() / ("cut-" + std::to_string(cut) + "-" + path.filename().string());
            write_file(file, Bytes(full.begin(), full.begin() + std::ptrdiff_t(cut)));
            const std::string what = std::string(rel) + " cut at " + std::to_string(cut);
            const auto o = guarded_load(what, cut, [&] {
                const io::ModelFile mf = io::open_model_file(file);
                run_model(mf, nullptr);
            });
            check_outcome(o, what, cut, file.string());
            CHECK(o.kind == LoadOutcome::Error);  // every cut loses tensor data at least
            std::filesystem::remove(file);
        }
    }
}

TEST_CASE("GGUF with random corruption of its header, metadata and tensor table", "[reliability][gguf][corruption]") {
    // Cases per region: fewer for the 32000-token vocabulary, whose tokenizer takes longest.
    const std::pair<const char*, int> plan[] = {{kModels[0], 300}, {kModels[1], 120}, {kModels[2], 60}};
    for (const auto& [rel, per_region] : plan) {
        GRETA_SHARED_OR_SKIP(path, rel);
        const Bytes full = file_bytes(path);
        const std::string name = path.filename().string();
        std::mt19937_64 rng(20240 + per_region);
        for (const Region& region : gguf_regions(full)) {
            Tally tally;
            for (int i = 0; i < per_region; ++i) {
                const Bytes b = corrupt(full, region, rng);
                const std::string what = name + " " + region.name + " case " + std::to_string(i);
                const auto o = guarded_load(what, b.size(), [&] { load_gguf_fully(b, name); });
                check_outcome(o, what, b.size(), name);
                tally.add(o);
            }
            tally.print(name + " " + region.name + " corrupted");
            CHECK(tally.errors > 0);  // the damage is seen
            CHECK(tally.other == 0);
        }
    }
}

TEST_CASE("regression: head count x head_dim overflowing 32 bits is refused before any forward pass",
          "[reliability][gguf]") {
    // 2^29 + 8 heads of 8 makes q_dim wrap to 64 = the real width, so the weight shapes still
    // match; the forward pass then walked 2^29 heads out of its buffers (a crash in greta_infer).
    GRETA_SHARED_OR_SKIP(path, "models/stories260K-f32.gguf");
    Bytes b = file_bytes(path);
    const std::string key = "llama.attention.head_count";
    const std::string s = as_string(b);
    const std::size_t at = s.find(key + std::string("\x04\x00\x00\x00", 4));  // key, then type u32
    REQUIRE(at != std::string::npos);
    const std::uint32_t heads = (1u << 29) + 8;
    std::memcpy(b.data() + at + key.size() + 4, &heads, 4);
    const auto o = guarded_load("q_dim overflow", b.size(), [&] { load_gguf_fully(b, "qdim.gguf"); });
    check_outcome(o, "q_dim overflow", b.size(), "qdim.gguf");
    REQUIRE(o.kind == LoadOutcome::Error);
    CHECK(o.message.find("overflows 32 bits") != std::string::npos);
}

TEST_CASE("regression: a corrupted count in a multi-GiB GGUF allocates for what is read, not what is claimed",
          "[reliability][gguf]") {
    // A 4 GiB file (sparse: no disk space used), the size of a 7B Q4 model, whose header claims
    // as many entries as could fit. The reader reserved vectors for the claimed count: 52 GB
    // for the metadata, 11 GB for the tensor table, 16 GB for a string array: std::bad_alloc,
    // which greta_infer printed without the file's name.
    const std::uint64_t size = std::uint64_t(4) << 30;
    auto sparse_gguf = [&](const std::string& name, std::uint64_t n_tensors, std::uint64_t n_kv, const Bytes& after) {
        Bytes head(24);
        const std::uint32_t magic = io::gguf_magic, version = 3;
        std::memcpy(head.data(), &magic, 4);
        std::memcpy(head.data() + 4, &version, 4);
        std::memcpy(head.data() + 8, &n_tensors, 8);
        std::memcpy(head.data() + 16, &n_kv, 8);
        head.insert(head.end(), after.begin(), after.end());
        const auto path = scratch_dir() / name;
        write_file(path, head);
        std::filesystem::resize_file(path, size);
        return path;
    };
    // One metadata entry "k": an array of strings claiming every remaining 8 bytes, whose first
    // string then claims more bytes than exist.
    Bytes string_array(8 + 1 + 4 + 4 + 8 + 8);
    const std::uint64_t key_len = 1, huge = ~std::uint64_t(0);
    const std::uint32_t array_type = 9, string_type = 8;
    const std::uint64_t count = (size - 24 - string_array.size() + 8) / 8;
    std::memcpy(string_array.data(), &key_len, 8);
    string_array[8] = std::byte{'k'};
    std::memcpy(string_array.data() + 9, &array_type, 4);
    std::memcpy(string_array.data() + 13, &string_type, 4);
    std::memcpy(string_array.data() + 17, &count, 8);
    std::memcpy(string_array.data() + 25, &huge, 8);  // the first string's length
    const std::pair<std::string, std::filesystem::path> cases[] = {
        {"metadata count", sparse_gguf("huge-kv.gguf", 0, (size - 24) / 13, {})},
        {"tensor count", sparse_gguf("huge-tensors.gguf", (size - 24) / 32, 0, {})},
        {"string array length", sparse_gguf("huge-strings.gguf", 0, 1, string_array)},
    };
    for (const auto& [what, path] : cases) {
        // A fixed 64 MiB limit: the claimed counts are all the file could hold, so the usual
        // 4x-the-input bound would not notice.
        const auto o = guarded_load(what, 0, [&] { (void)io::GgufFile::open(path); });
        check_outcome(o, what, 0, path.string());
        CHECK(o.kind == LoadOutcome::Error);
        std::filesystem::remove(path);
    }
}
