#pragma once
/// @file open_model_file: any supported weight file (GGUF, SafeTensors checkpoint, llama2.c
/// checkpoint) as a ModelFile.

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include <greta/core/error.hpp>
#include <greta/io/gguf.hpp>
#include <greta/io/gguf_config.hpp>
#include <greta/io/hf_checkpoint.hpp>
#include <greta/io/llama2c.hpp>
#include <greta/io/mmap.hpp>
#include <greta/io/model_file.hpp>

namespace greta::io {

/// A parsed GGUF as a ModelFile (hyperparameters via config_from_gguf, tensors as stored).
inline ModelFile gguf_model_file(std::shared_ptr<const GgufFile> gguf) {
    ModelFile mf;
    mf.path = gguf->path();
    mf.format = FileFormat::Gguf;
    mf.config = config_from_gguf(*gguf);
    mf.rope_style = RopeStyle::AdjacentPairs;
    mf.tensors = gguf->tensors();
    mf.name = gguf->get_string("general.name").value_or(std::filesystem::path(mf.path).stem().string());
    mf.metadata.emplace_back("gguf.version", std::to_string(gguf->version()));
    for (const auto& [key, value] : gguf->metadata()) mf.metadata.emplace_back(key, value.to_string());
    mf.gguf = gguf;
    mf.storage = gguf;
    return mf;
}

/// Opens a model by content, then by name: GGUF magic; a directory, *.safetensors or *.json
/// (Hugging Face checkpoint); otherwise a llama2.c checkpoint when the file's size is the one
/// its header implies (or the name ends in .bin, to report what does not match). Anything
/// else is a greta::Error naming the file.
inline ModelFile open_model_file(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    const std::string name = path.string();
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error("no such file or directory", {name, {}, {}});
    if (fs::is_directory(path, ec)) return open_hf_checkpoint(path);

    auto file = MappedFile::open(path);
    std::uint32_t magic = 0;
    if (file->size() >= 4) std::memcpy(&magic, file->data(), 4);
    if (magic == gguf_magic) return gguf_model_file(GgufFile::parse(std::move(file)));

    const std::string ext = path.extension().string();
    if (ext == ".safetensors" || ext == ".json") {
        file.reset();
        return open_hf_checkpoint(path);
    }
    if (looks_like_llama2c(*file) || ext == ".bin") return llama2c_model_file(std::move(file));
    throw Error("unrecognized model file format (expected GGUF, a SafeTensors checkpoint or a llama2.c checkpoint)",
                {name, {}, {}});
}

}  // namespace greta::io
