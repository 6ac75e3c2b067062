#pragma once
/// @file Engine: the small API for downstream code: open a model, generate with a callback.
///
///     auto engine = greta::runtime::Engine::open({.model = "model.gguf"});
///     engine.generate("Once upon a time", {.n_predict = 64}, [](std::string_view s) { ...; return true; });

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <greta/core/error.hpp>
#include <greta/io/open_model_file.hpp>
#include <greta/model/backend.hpp>
#include <greta/model/cpu_backend.hpp>
#include <greta/model/weights.hpp>
#include <greta/runtime/generator.hpp>
#include <greta/tokenizer/gguf_vocab.hpp>
#include <greta/tokenizer/tokenizer.hpp>
#include <greta/tokenizer/load_vocab.hpp>

namespace greta::runtime {

/// Makes the execution backend for bound weights and a context length. The default makes the
/// CPU reference; GPU programs pass a factory for their GPU backend.
using BackendFactory =
    std::function<std::unique_ptr<model::Backend>(const model::ModelWeights&, std::uint32_t context)>;

struct EngineOptions {
    std::filesystem::path model;
    /// SentencePiece .model or GGUF vocabulary; needed when the model file carries none (llama2.c).
    std::filesystem::path tokenizer = {};
    /// KV-cache positions. 0 = the model's trained context up to kAutoContextCap, grown (with a log line) when a
    /// generate() call needs more; an explicit value is fixed and requests beyond it are errors.
    std::uint32_t context = 0;
    std::size_t threads = 0;  ///< CPU threads; 0 = all cores
    BackendFactory backend_factory = {};
    /// Receives informational messages (e.g. context growth). Default: discarded.
    std::function<void(std::string_view)> log = {};
};

/// Loads the tokenizer for a model file: an explicit path wins, else the GGUF's own vocabulary.
inline tokenizer::Vocab load_model_vocab(const io::ModelFile& file, const std::filesystem::path& explicit_path) {
    if (!explicit_path.empty()) return tokenizer::load_vocab(explicit_path);
    if (file.gguf && file.gguf->find("tokenizer.ggml.tokens")) return tokenizer::vocab_from_gguf(*file.gguf);
    throw Error("the model file has no vocabulary; pass a tokenizer (.model or .gguf) with --tokenizer",
                {file.path, {}, {}});
}

class Engine {
public:
    static Engine open(const EngineOptions& opt) {
        const auto t0 = std::chrono::steady_clock::now();
        Engine e;
        e.file_ = std::make_unique<io::ModelFile>(io::open_model_file(opt.model));
        e.weights_ = model::bind_weights(e.file_->config, e.file_->rope_style, e.file_->tensors, e.file_->path);
        e.tokenizer_ = std::make_unique<tokenizer::Tokenizer>(load_model_vocab(*e.file_, opt.tokenizer));
        check(e.tokenizer_->size() == e.weights_.cfg.vocab_size, [&] {
            return "tokenizer has " + std::to_string(e.tokenizer_->size()) + " tokens but the model's vocabulary is " +
                   std::to_string(e.weights_.cfg.vocab_size);
        }, {opt.tokenizer.empty() ? e.file_->path : opt.tokenizer.string(), {}, {}});
        e.opt_ = opt;
        e.load_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        return e;
    }

    /// Checks a request without running it: sampling values, and that the prompt and the token
    /// budget fit the context (growing an automatic context). generate() does the same first;
    /// calling it earlier lets a caller fail before printing anything.
    void prepare(std::string_view prompt, const GenerateOptions& opt) {
        opt.sampling.validate();
        const std::size_t n_prompt = tokenizer_->encode(prompt, opt.add_bos).size();
        std::uint32_t needed = 0;
        if (opt_.context == 0 && opt.n_predict >= 0)
            needed = std::uint32_t(std::max<std::size_t>(1, n_prompt + std::size_t(opt.n_predict)) - 1);
        Generator(backend(needed), *tokenizer_).check_fits(n_prompt, opt.n_predict);
    }

    GenerationStats generate(std::string_view prompt, const GenerateOptions& opt, const TextCallback& on_text,
                             const LogitsCallback& on_logits = {}) {
        prepare(prompt, opt);
        return Generator(*backend_, *tokenizer_).generate(prompt, opt, on_text, on_logits);
    }

    /// Largest context chosen automatically (EngineOptions::context = 0).
    static constexpr std::uint32_t kAutoContextCap = 32768;

    /// The execution backend, created on first use with the configured context, or at least
    /// `min_context` positions when the context was left automatic.
    model::Backend& backend(std::uint32_t min_context = 0) {
        std::uint32_t ctx = opt_.context;
        if (ctx == 0) {
            // The KV cache is allocated for the whole context: a file claiming millions of
            // positions (or a damaged length field) must not size it. -c sets more explicitly.
            ctx = std::min(weights_.cfg.max_context, kAutoContextCap);
            if (ctx < weights_.cfg.max_context && opt_.log && !backend_)
                opt_.log("context " + std::to_string(ctx) + " of the model's " + std::to_string(weights_.cfg.max_context) +
                         " positions (set -c to use more)");
        }
        if (opt_.context == 0 && min_context > ctx) {
            ctx = (min_context + 63) / 64 * 64;
            if (opt_.log)
                opt_.log("context " + std::to_string(ctx) + " exceeds the model's trained context of " +
                         std::to_string(weights_.cfg.max_context) + " positions");
        }
        if (!backend_ || backend_->context_length() < ctx) {
            backend_.reset();
            if (opt_.backend_factory)
                backend_ = opt_.backend_factory(weights_, ctx);
            else
                backend_ = std::make_unique<model::CpuBackend>(weights_, ctx, opt_.threads);
        }
        return *backend_;
    }

    const io::ModelFile& file() const { return *file_; }
    const model::ModelWeights& weights() const { return weights_; }
    const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
    double load_ms() const { return load_ms_; }

private:
    Engine() = default;
    std::unique_ptr<io::ModelFile> file_;  // owns the mapped tensors that weights_ views
    model::ModelWeights weights_;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
    std::unique_ptr<model::Backend> backend_;
    EngineOptions opt_;
    double load_ms_ = 0;
};

}  // namespace greta::runtime
