#pragma once
// greta_infer --info: metadata, hyperparameters, matching preset and the tensor table of a file.

#include <cstdio>
#include <iostream>
#include <string>

#include <greta/greta.hpp>

#include "options.hpp"

namespace greta_infer {

inline std::string shape_string(const greta::TensorView& t) {
    std::string s = "[";
    for (std::uint32_t d = 0; d < std::max<std::uint32_t>(t.n_dims, 1); ++d)
        s += (d ? ", " : "") + std::to_string(t.ne[d]);
    return s + "]";
}

inline int run_info(const Options& o) {
    const auto file = greta::io::open_model_file(o.model);
    std::cout << "file: " << file.path << "\nformat: " << greta::io::file_format_name(file.format)
              << "\nname: " << file.name << "\n\nmetadata:\n";
    for (const auto& [key, value] : file.metadata) std::cout << "  " << key << " = " << value << "\n";
    std::cout << "\nhyperparameters:\n";
    greta::describe(std::cout, file.config, "  ");
    std::cout << "  rope_style = "
              << (file.rope_style == greta::RopeStyle::AdjacentPairs ? "adjacent pairs (GGUF)" : "rotate-half (HF)")
              << "\n\npreset: ";
    if (auto preset = greta::matching_preset(file.config)) {
        std::cout << *preset;
        greta::for_each_preset([&]<class P>() {
            if (*preset != P::name) return false;
            const auto diffs = greta::compare_configs(P::cfg, file.config);
            if (!diffs.empty()) std::cout << " (differs: " << greta::format_mismatches(diffs, "preset", "file") << ")";
            return true;
        });
        std::cout << "\n";
    } else {
        std::cout << "none (generic instantiation)\n";
    }

    std::uint64_t total = 0;
    std::printf("\n%-32s %-6s %-20s %12s\n", "tensor", "type", "shape (ne)", "bytes");
    std::cout << std::flush;
    for (const auto& t : file.tensors) {
        std::printf("%-32s %-6s %-20s %12llu\n", t.name.c_str(), std::string(greta::dtype_name(t.type)).c_str(),
                    shape_string(t).c_str(), static_cast<unsigned long long>(t.n_bytes));
        total += t.n_bytes;
    }
    std::printf("%zu tensors, %.2f MiB\n", file.tensors.size(), double(total) / (1024.0 * 1024.0));
    return 0;
}

}  // namespace greta_infer
