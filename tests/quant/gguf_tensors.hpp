#pragma once
// A minimal, test-local GGUF tensor locator: enough of the format to find one tensor's type,
// shape and bytes, written independently of greta::io so the quant tests check the quant code
// only. Layout: "GGUF", u32 version, u64 n_tensors, u64 n_kv, the key/value pairs, the tensor
// infos (name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset), then the data section at the
// next multiple of general.alignment (default 32); each tensor lies at data + offset.

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared_files.hpp"

namespace greta::test {

struct GgufTensor {
    std::uint32_t type = 0;
    std::vector<std::uint64_t> ne;
    const std::byte* data = nullptr;
    std::uint64_t n_elements() const {
        std::uint64_t n = 1;
        for (auto e : ne) n *= e;
        return n;
    }
};

class GgufTensors {
public:
    explicit GgufTensors(const std::filesystem::path& path) {
        auto raw = read_bytes(path);
        bytes_.resize(raw.size());
        std::memcpy(bytes_.data(), raw.data(), raw.size());
        if (bytes_.size() < 24 || std::memcmp(bytes_.data(), "GGUF", 4) != 0)
            throw std::runtime_error(path.string() + ": not a GGUF file");
        pos_ = 4;
        const auto version = get<std::uint32_t>();
        if (version != 2 && version != 3) throw std::runtime_error("unexpected GGUF version");
        const auto n_tensors = get<std::uint64_t>();
        const auto n_kv = get<std::uint64_t>();
        std::uint64_t alignment = 32;
        for (std::uint64_t i = 0; i < n_kv; ++i) {
            const std::string key = get_string();
            const auto type = get<std::uint32_t>();
            if (key == "general.alignment" && type == 4) {
                alignment = get<std::uint32_t>();
            } else {
                skip_value(type);
            }
        }
        struct Info { std::string name; GgufTensor t; std::uint64_t offset; };
        std::vector<Info> infos;
        for (std::uint64_t i = 0; i < n_tensors; ++i) {
            Info info;
            info.name = get_string();
            const auto n_dims = get<std::uint32_t>();
            for (std::uint32_t d = 0; d < n_dims; ++d) info.t.ne.push_back(get<std::uint64_t>());
            info.t.type = get<std::uint32_t>();
            info.offset = get<std::uint64_t>();
            infos.push_back(std::move(info));
        }
        const std::uint64_t data_start = (pos_ + alignment - 1) / alignment * alignment;
        for (auto& info : infos) {
            if (data_start + info.offset > bytes_.size()) throw std::runtime_error("tensor past end");
            info.t.data = bytes_.data() + data_start + info.offset;
            tensors_[info.name] = info.t;
        }
    }

    const GgufTensor& tensor(const std::string& name) const {
        auto it = tensors_.find(name);
        if (it == tensors_.end()) throw std::runtime_error("no tensor " + name);
        return it->second;
    }

private:
    template <class T>
    T get() {
        if (pos_ + sizeof(T) > bytes_.size()) throw std::runtime_error("truncated GGUF");
        T v;
        std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    std::string get_string() {
        const auto len = get<std::uint64_t>();
        if (len > bytes_.size() - pos_) throw std::runtime_error("truncated GGUF string");
        std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
        pos_ += len;
        return s;
    }
    void skip_value(std::uint32_t type) {
        static constexpr std::uint64_t scalar_size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        if (type == 8) {
            get_string();
        } else if (type == 9) {
            const auto elem = get<std::uint32_t>();
            const auto count = get<std::uint64_t>();
            for (std::uint64_t i = 0; i < count; ++i) skip_value(elem);
        } else if (type < 13) {
            pos_ += scalar_size[type];
        } else {
            throw std::runtime_error("unknown GGUF value type");
        }
    }

    std::vector<std::byte> bytes_;  // whole file; new[] alignment keeps tensor data aligned
    std::size_t pos_ = 0;
    std::map<std::string, GgufTensor> tensors_;
};

}  // namespace greta::test
