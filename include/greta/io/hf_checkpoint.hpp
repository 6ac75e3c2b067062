#pragma once
/// @file open_hf_checkpoint: a Hugging Face Llama checkpoint (config.json + one or more
/// .safetensors shards) as a ModelFile with GGUF tensor names.

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <greta/core/error.hpp>
#include <greta/io/hf_config.hpp>
#include <greta/io/model_file.hpp>
#include <greta/io/safetensors.hpp>

namespace greta::io {

namespace detail {
inline bool has_suffix(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace detail

/// Opens a checkpoint given as a directory (config.json plus model.safetensors.index.json
/// naming the shards, or else every *.safetensors in it), a .safetensors file with config.json
/// beside it, or that config.json / index file itself. Tensors keep HF's values and row order
/// (rope_style RotateHalf); names and dimension order become GGUF's.
inline ModelFile open_hf_checkpoint(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path dir;
    std::vector<fs::path> shards;
    std::map<std::string, std::string> index_map;  // tensor -> shard file name, when indexed
    fs::path index_path;
    const std::string filename = path.filename().string();
    if (fs::is_directory(path, ec)) {
        dir = path;
    } else if (detail::has_suffix(filename, ".safetensors")) {
        dir = path.parent_path();
        shards.push_back(path);
    } else if (detail::has_suffix(filename, ".json")) {
        dir = path.parent_path();
    } else {
        throw Error("not a SafeTensors checkpoint (expected a directory, a .safetensors or a .json file)",
                    {path.string(), {}, {}});
    }
    if (dir.empty()) dir = ".";

    if (shards.empty()) {
        index_path = dir / "model.safetensors.index.json";
        if (detail::has_suffix(filename, ".index.json")) index_path = path;
        if (fs::exists(index_path, ec)) {
            const nlohmann::json index = read_json_file(index_path);
            const auto wm = index.is_object() ? index.find("weight_map") : index.end();
            if (wm == index.end() || !wm->is_object())
                throw Error("index has no \"weight_map\" object", {index_path.string(), {}, "weight_map"});
            std::vector<std::string> files;
            for (const auto& [tensor, file] : wm->items()) {
                if (!file.is_string() || file.get<std::string>().empty() ||
                    fs::path(file.get<std::string>()).filename().string() != file.get<std::string>())
                    throw Error("weight_map entry must be a shard file name in the same directory",
                                {index_path.string(), {}, tensor});
                index_map.emplace(tensor, file.get<std::string>());
                if (std::find(files.begin(), files.end(), file.get<std::string>()) == files.end())
                    files.push_back(file.get<std::string>());
            }
            std::sort(files.begin(), files.end());
            for (const auto& f : files) shards.push_back(dir / f);
        } else {
            index_path.clear();
            for (const auto& entry : fs::directory_iterator(dir, ec))
                if (entry.is_regular_file() && detail::has_suffix(entry.path().filename().string(), ".safetensors"))
                    shards.push_back(entry.path());
            std::sort(shards.begin(), shards.end());
        }
        if (shards.empty()) throw Error("no *.safetensors files in the checkpoint directory", {dir.string(), {}, {}});
    }

    const fs::path config_path = dir / "config.json";
    if (!fs::exists(config_path, ec))
        throw Error("config.json not found beside the weights (it holds the hyperparameters)",
                    {config_path.string(), {}, {}});
    const nlohmann::json config_json = read_json_file(config_path);

    ModelFile mf;
    mf.path = path.string();
    mf.format = FileFormat::SafeTensors;
    mf.config = config_from_hf_json(config_json, config_path.string());
    mf.rope_style = RopeStyle::RotateHalf;

    auto files = std::make_shared<std::vector<std::shared_ptr<const SafeTensorsFile>>>();
    std::map<std::string, std::string> origin;  // GGUF name -> shard path, to catch duplicates
    for (const auto& shard : shards) {
        auto st = SafeTensorsFile::open(shard);
        const std::string shard_name = shard.filename().string();
        for (const auto& t : st->tensors()) {
            if (hf_tensor_is_ignored(t.name)) continue;
            const auto gguf_name = hf_to_gguf_name(t.name);
            if (!gguf_name) throw Error("unrecognized tensor (not a Llama weight)", {st->path(), {}, t.name});
            if (!index_map.empty()) {
                const auto it = index_map.find(t.name);
                if (it == index_map.end() || it->second != shard_name) continue;  // the index decides
            }
            if (const auto [it, fresh] = origin.emplace(*gguf_name, st->path()); !fresh)
                throw Error("tensor appears in two shards (also in " + it->second + ")", {st->path(), {}, t.name});
            TensorView v = t;
            v.name = *gguf_name;
            mf.tensors.push_back(std::move(v));
        }
        files->push_back(std::move(st));
    }
    for (const auto& [tensor, shard] : index_map)
        if (const auto g = hf_to_gguf_name(tensor); !hf_tensor_is_ignored(tensor) && (!g || !origin.count(*g)))
            throw Error("the index places this tensor in " + shard + ", which does not contain it",
                        {index_path.string(), {}, tensor});
    if (!mf.config.tied_embeddings && !origin.count("output.weight"))
        throw Error("missing tensor lm_head.weight (config.json says tie_word_embeddings is false)",
                    {mf.path, {}, "lm_head.weight"});

    if (const auto it = config_json.find("_name_or_path"); it != config_json.end() && it->is_string() &&
                                                           !it->get<std::string>().empty())
        mf.name = it->get<std::string>();
    else
    {
        fs::path d = fs::absolute(dir, ec).lexically_normal();
        if (d.filename().empty()) d = d.parent_path();  // "dir/" normalizes with a trailing slash
        mf.name = d.filename().string();
    }
    for (const auto& [key, value] : config_json.items())
        mf.metadata.emplace_back(key, value.is_string() ? value.get<std::string>() : detail::one_line(value.dump()));
    mf.metadata.emplace_back("safetensors.shards", std::to_string(shards.size()));
    mf.storage = files;
    return mf;
}

}  // namespace greta::io
