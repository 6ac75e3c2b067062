#pragma once
/// @file MappedFile: the read-only bytes of a weight file, memory-mapped (or held in memory).

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <greta/core/error.hpp>

namespace greta::io {

/// Read-only bytes of a file. Either an mmap of the file (weights are paged in on first touch,
/// never copied) or an owned buffer (parsers and fuzz harnesses feed bytes that never were a
/// file). Shared by every view into it, so views outlive nothing they point at.
class MappedFile {
public:
    /// Maps `path` read-only. Throws greta::Error naming the file when it cannot.
    static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path) {
        const std::string name = path.string();
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec))
            throw Error("cannot map a directory as a file", {name, {}, {}});
        const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw Error(std::string("cannot open file: ") + std::strerror(errno), {name, {}, {}});
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            const int err = errno;
            ::close(fd);
            throw Error(std::string("cannot stat file: ") + std::strerror(err), {name, {}, {}});
        }
        auto file = std::shared_ptr<MappedFile>(new MappedFile());
        file->path_ = name;
        file->size_ = static_cast<std::uint64_t>(st.st_size);
        if (file->size_ > 0) {  // mmap of length 0 is an error; an empty file has no bytes to map
            void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const int err = errno;
                ::close(fd);
                throw Error(std::string("cannot mmap file: ") + std::strerror(err), {name, {}, {}});
            }
            file->map_ = p;
            file->data_ = static_cast<const std::byte*>(p);
        }
        ::close(fd);  // the mapping keeps its own reference to the file
        return file;
    }

    /// Wraps bytes that live in memory; `name` stands in for the path in error messages.
    static std::shared_ptr<const MappedFile> from_bytes(std::vector<std::byte> bytes, std::string name) {
        auto file = std::shared_ptr<MappedFile>(new MappedFile());
        file->path_ = std::move(name);
        file->owned_ = std::move(bytes);
        file->data_ = file->owned_.data();
        file->size_ = file->owned_.size();
        return file;
    }

    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile() {
        if (map_) ::munmap(map_, size_);
    }

    const std::string& path() const noexcept { return path_; }
    const std::byte* data() const noexcept { return data_; }
    std::uint64_t size() const noexcept { return size_; }
    std::span<const std::byte> bytes() const noexcept { return {data_, static_cast<std::size_t>(size_)}; }

private:
    MappedFile() = default;
    std::string path_;
    void* map_ = nullptr;
    std::vector<std::byte> owned_;
    const std::byte* data_ = nullptr;
    std::uint64_t size_ = 0;
};

}  // namespace greta::io
