#pragma once
/// @file ModelFile: what any supported weight file provides, in GGUF's vocabulary.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <greta/config/model_config.hpp>
#include <greta/core/tensor_view.hpp>
#include <greta/io/gguf.hpp>

namespace greta::io {

enum class FileFormat { Gguf, SafeTensors, Llama2C };

constexpr std::string_view file_format_name(FileFormat f) {
    switch (f) {
        case FileFormat::Gguf: return "GGUF";
        case FileFormat::SafeTensors: return "SafeTensors";
        case FileFormat::Llama2C: return "llama2.c";
    }
    return "unknown";
}

/// A model's weights and hyperparameters, whatever file they came from. Tensor names and
/// dimension order are GGUF's (token_embd.weight, blk.N.attn_q.weight, ...; ne[0] contiguous).
struct ModelFile {
    std::string path;
    FileFormat format = FileFormat::Gguf;
    std::string name;
    ModelConfig config;
    /// q/k row order: RotateHalf for Hugging Face checkpoints (left as stored), AdjacentPairs
    /// for GGUF and llama2.c.
    RopeStyle rope_style = RopeStyle::AdjacentPairs;
    std::vector<TensorView> tensors;
    std::vector<std::pair<std::string, std::string>> metadata;  ///< printable key/value pairs
    std::shared_ptr<const GgufFile> gguf;  ///< set when format == Gguf (the vocabulary lives there)
    std::shared_ptr<const void> storage;   ///< keeps the mapped files / converted buffers alive

    const TensorView* find(std::string_view tensor_name) const {
        for (const auto& t : tensors)
            if (t.name == tensor_name) return &t;
        return nullptr;
    }
};

}  // namespace greta::io
