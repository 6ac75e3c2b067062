#pragma once
// Where greta_infer's weights come from: a model file (-m) or a synthetic model (--synthetic).

#include <memory>
#include <string>
#include <thread>

#include <greta/greta.hpp>
#include <greta/model/synthetic.hpp>

#include "options.hpp"

namespace greta_infer {

class ModelSource {
public:
    const greta::model::ModelWeights& weights() const { return *weights_; }
    const std::string& name() const { return name_; }
    std::size_t threads(const Options& o) const {
        return o.threads ? o.threads : std::max(1u, std::thread::hardware_concurrency());
    }
    friend ModelSource open_model_source(const Options& o);

private:
    std::shared_ptr<const void> owner_;
    const greta::model::ModelWeights* weights_ = nullptr;
    std::string name_;
};

inline ModelSource open_model_source(const Options& o) {
    ModelSource s;
    if (!o.synthetic.empty()) {
        auto m = std::make_shared<greta::model::SyntheticModel>(greta::model::make_synthetic(o.synthetic, o.quant, 42));
        s.weights_ = &m->weights;
        s.owner_ = m;
        s.name_ = "synthetic " + o.synthetic + " " + o.quant;
        return s;
    }
    struct Loaded {
        greta::io::ModelFile file;
        greta::model::ModelWeights weights;
    };
    auto l = std::make_shared<Loaded>();
    l->file = greta::io::open_model_file(o.model);
    l->weights = greta::model::bind_weights(l->file.config, l->file.rope_style, l->file.tensors, l->file.path);
    s.weights_ = &l->weights;
    s.name_ = l->file.name.empty() ? o.model : l->file.name;
    s.owner_ = l;
    return s;
}

}  // namespace greta_infer
