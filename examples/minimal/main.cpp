// The smallest downstream program: open a model, stream a continuation of a prompt.
//   minimal MODEL.gguf "Once upon a time"
#include <greta/greta.hpp>

#include <iostream>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: " << argv[0] << " MODEL [PROMPT] [TOKENIZER]\n";
        return 1;
    }
    try {
        greta::runtime::EngineOptions options{.model = argv[1]};
        if (argc > 3) options.tokenizer = argv[3];
        auto engine = greta::runtime::Engine::open(options);

        const std::string prompt = argc > 2 ? argv[2] : "Once upon a time";
        greta::runtime::GenerateOptions generate;
        generate.n_predict = 64;
        generate.sampling.temperature = 0.0f;  // greedy: the same text every run

        std::cout << prompt;
        const auto stats = engine.generate(prompt, generate, [](std::string_view piece) {
            std::cout << piece << std::flush;
            return true;  // keep going
        });
        std::cerr << "\n" << stats.n_generated << " tokens, " << stats.generate_tokens_per_s() << " tok/s\n";
    } catch (const greta::Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
}
