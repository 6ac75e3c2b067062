#pragma once
/// @file Reflection over ModelConfig with Boost.PFR: print every field by name, compare two
/// configs (a preset and a file's) field by field, find the preset a file matches.
///
/// Boost 1.81's PFR has no pfr::get_name, so the names come from a table whose size is
/// static_asserted against the reflected field count: adding a field without naming it fails
/// to compile.

#include <array>
#include <charconv>
#include <cstddef>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <greta/config/model_config.hpp>
#include <greta/config/presets.hpp>

namespace greta {

/// ModelConfig's field names, in declaration order.
inline constexpr std::array<std::string_view, 11> model_config_field_names{
    "dim",        "n_layers",    "n_heads",    "n_kv_heads", "head_dim",       "ffn_dim",
    "vocab_size", "max_context", "rope_theta", "norm_eps",   "tied_embeddings"};
static_assert(model_config_field_names.size() == boost::pfr::tuple_size_v<ModelConfig>,
              "every ModelConfig field needs an entry in model_config_field_names");

/// Printable form of one field value: integers in decimal, floats in their shortest exact
/// form, bools as true/false.
template <class T>
std::string config_value_string(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
        return v ? "true" : "false";
    } else {
        char buf[64];
        const auto r = std::to_chars(buf, buf + sizeof buf, v);
        return std::string(buf, r.ptr);
    }
}

/// Calls f(name, value) for every field of c, in declaration order.
template <class F>
constexpr void for_each_config_field(const ModelConfig& c, F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (f(model_config_field_names[I], boost::pfr::get<I>(c)), ...);
    }(std::make_index_sequence<model_config_field_names.size()>{});
}

/// Writes one "name = value" line per field, each prefixed by `indent`.
inline void describe(std::ostream& os, const ModelConfig& c, std::string_view indent = "") {
    for_each_config_field(c, [&](std::string_view name, const auto& v) {
        os << indent << name << " = " << config_value_string(v) << '\n';
    });
}

/// Every field as "name = value", one per line.
inline std::string describe(const ModelConfig& c) {
    std::string s;
    for_each_config_field(c, [&](std::string_view name, const auto& v) {
        s.append(name).append(" = ").append(config_value_string(v)).append("\n");
    });
    return s;
}

/// One field on which two configs differ.
struct ConfigMismatch {
    std::string_view field;
    std::string expected;  ///< e.g. the preset's value
    std::string actual;    ///< e.g. the file's value
};

/// Every field where `actual` differs from `expected` (exact comparison, floats included: both
/// sides are floats converted once from their source), in declaration order.
inline std::vector<ConfigMismatch> compare_configs(const ModelConfig& expected, const ModelConfig& actual) {
    std::vector<ConfigMismatch> out;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        auto one = [&](std::string_view name, const auto& e, const auto& a) {
            if (!(e == a)) out.push_back({name, config_value_string(e), config_value_string(a)});
        };
        (one(model_config_field_names[I], boost::pfr::get<I>(expected), boost::pfr::get<I>(actual)), ...);
    }(std::make_index_sequence<model_config_field_names.size()>{});
    return out;
}

/// compare_configs against a preset's constexpr config.
template <ModelPreset Preset>
std::vector<ConfigMismatch> compare_with_preset(const ModelConfig& actual) {
    return compare_configs(Preset::cfg, actual);
}

/// One-line report: "max_context: expected 512, got 128; ..." (empty when none).
inline std::string format_mismatches(std::span<const ConfigMismatch> mismatches,
                                     std::string_view expected_label = "expected",
                                     std::string_view actual_label = "got") {
    std::string s;
    for (const auto& m : mismatches) {
        if (!s.empty()) s += "; ";
        s.append(m.field).append(": ").append(expected_label).append(" ").append(m.expected);
        s.append(", ").append(actual_label).append(" ").append(m.actual);
    }
    return s;
}

/// Name of the preset whose architecture `c` has. The trained context length is ignored
/// unless `include_context` is set: files state it differently (stories260K's GGUF says 128,
/// its checkpoint 512) and it does not change a single weight.
inline std::optional<std::string_view> matching_preset(const ModelConfig& c, bool include_context = false) {
    std::optional<std::string_view> found;
    for_each_preset([&]<class P>() {
        for (const auto& m : compare_configs(P::cfg, c))
            if (include_context || m.field != "max_context") return false;
        found = P::name;
        return true;
    });
    return found;
}

}  // namespace greta
