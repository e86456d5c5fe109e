// FILM (film_net, google-research/frame-interpolation) as ported to PyTorch by
// dajes/frame-interpolation-pytorch (interpolator.py, feature_extractor.py, pyramid_flow_estimator.py,
// fusion.py, util.py): a 2x frame interpolator used after ToonCrafter to double the frame rate.
// The module tree declares exactly the port's state_dict keys (current "v1.0.2" spelling, see
// /work/shared/golden/film/README.md section 5.1; load_film maps the old v1.0.0 spelling onto it).
// Architecture in words: README section 4. fp32 CPU reference; the warp/resize/pool kernels are CPU-only
// (models/film_kernels.h).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/module.h"
#include "models/layers.h"

namespace tc {

// Interpolator(pyramid_levels, fusion_pyramid_levels, specialized_levels, sub_levels, filters, flow_convs,
// flow_filters); defaults are the released film_net.
struct FilmConfig {
    int pyramid_levels = 7;
    int fusion_pyramid_levels = 5;
    int specialized_levels = 3;
    int sub_levels = 4;
    int64_t filters = 64;
    std::vector<int> flow_convs{3, 3, 3, 3};
    std::vector<int64_t> flow_filters{32, 64, 128, 256};
};

namespace film {

// util.Conv2d: a Sequential holding nn.Conv2d as child '0' (keys `<name>.0.weight/bias`), 'same' padding
// (the 2x2 conv pads one zero column right and one zero row bottom), optional LeakyReLU(0.2).
class Conv : public Module {
public:
    Conv(int64_t in, int64_t out, int64_t kernel, bool activation);
    Tensor forward(const Tensor& x) const;
    Conv2d* conv;
    bool activation;
};

// feature_extractor.SubTreeExtractor: `convs.{j}.{0,1}` = two 3x3 convs per stage, channels F * 2^j.
class SubTreeExtractor : public Module {
public:
    SubTreeExtractor(int64_t in_channels, int64_t filters, int n_layers);
    // The stage outputs of one image level, computing only the first `depth` stages (the port runs all
    // sub_levels; the deeper ones at coarse levels are never used).
    std::vector<Tensor> forward(const Tensor& image, int depth) const;
    std::vector<std::vector<Conv*>> stages;
};

// feature_extractor.FeatureExtractor: the cascaded feature pyramid.
class FeatureExtractor : public Module {
public:
    FeatureExtractor(int64_t in_channels, int64_t filters, int sub_levels);
    std::vector<Tensor> forward(const std::vector<Tensor>& image_pyramid, std::map<std::string, Tensor>* taps,
                                const std::string& tap_prefix) const;
    SubTreeExtractor* extract_sublevels;
    int sub_levels;
};

// pyramid_flow_estimator.FlowEstimator: num_convs 3x3 convs, a 1x1 to num_filters/2 (all LeakyReLU), a
// linear 1x1 to the 2-channel flow. Keys `_convs.{0..num_convs+1}.0.*`.
class FlowEstimator : public Module {
public:
    FlowEstimator(int64_t in_channels, int num_convs, int64_t num_filters);
    Tensor forward(const Tensor& a, const Tensor& b) const;  // [B, 2C, h, w] -> [B, 2, h, w]
    std::vector<Conv*> convs;
};

// pyramid_flow_estimator.PyramidFlowEstimator: `_predictor` shared by the coarse levels, `_predictors.k`
// for the specialised fine levels (stored coarse-to-fine: .0 serves level specialized-1 ... .last level 0).
class PyramidFlowEstimator : public Module {
public:
    PyramidFlowEstimator(int64_t filters, int sub_levels, const std::vector<int>& flow_convs,
                         const std::vector<int64_t>& flow_filters);
    // Residual flows r_0..r_{L-1} (finest first) and the accumulated flows v_i = up(2 v_{i+1}) + r_i.
    void forward(const std::vector<Tensor>& feat_a, const std::vector<Tensor>& feat_b, std::vector<Tensor>& residuals,
                 std::vector<Tensor>& flows, std::map<std::string, Tensor>* taps, const std::string& tap_prefix) const;
    FlowEstimator* predictor;
    std::vector<FlowEstimator*> predictors;
};

// fusion.Fusion: U-Net decoder over the aligned pyramid; `output_conv` then `convs.{k}.{0,1,2}`.
class Fusion : public Module {
public:
    // `sub_levels` fixes the feature channels of each pyramid level (C_i of FeatureExtractor).
    Fusion(int n_layers, int specialized_layers, int64_t filters, int sub_levels);
    Tensor forward(const std::vector<Tensor>& pyramid, std::map<std::string, Tensor>* taps) const;
    Conv2d* output_conv;
    std::vector<std::vector<Conv*>> levels;  // levels[k] = convs.k (decoder level n_layers - 2 - k)
};

}  // namespace film

class Film : public Module {
public:
    explicit Film(const FilmConfig& cfg = {});
    // x0, x1 [B, 3, H, W] in [0, 1] (H, W >= 2^(pyramid_levels-1)), dt [B, 1] -> the raw, unclamped
    // middle frame [B, 3, H, W] (interpolator.Interpolator.forward).
    Tensor forward(const Tensor& x0, const Tensor& x1, const Tensor& dt) const;
    // The same, recording intermediates under the names of golden case (c) when `taps` is not null.
    Tensor forward_debug(const Tensor& x0, const Tensor& x1, const Tensor& dt,
                         std::map<std::string, Tensor>* taps) const;

    const FilmConfig& config() const { return cfg_; }
    // Which spelling the loaded file used: "v1.0.2" (util.Conv2d everywhere), "v1.0.0" (plain nn.Conv2d for
    // the linear convs; that code ignored dt, we always honour it: identical at dt = 0.5), or "" (not loaded).
    std::string key_generation;

private:
    FilmConfig cfg_;
    film::FeatureExtractor* extract_;
    film::PyramidFlowEstimator* predict_flow_;
    film::Fusion* fuse_;
};

// Loads a FILM model: the port's TorchScript archives (film_net_fp32.pt / film_net_fp16.pt, both key
// generations; half weights are widened to f32), a torch.save state dict or a .safetensors state dict.
// The width (filters, flow_filters, flow_convs) is read from the weight shapes; the map is strict.
// Throws tc::Error naming the file on damage, missing/unused keys or shape mismatches.
std::unique_ptr<Film> load_film(const std::string& path);

// The port's inference.py route: pad H, W with zeros to multiples of 64 (pad >> 1 before, the rest after),
// run, clamp to [0, 1], crop back. x0, x1 [B, 3, H, W], dt [B, 1] (or [1, 1], broadcast) -> [B, 3, H, W].
Tensor film_interpolate(const Film& model, const Tensor& x0, const Tensor& x1, const Tensor& dt);

}  // namespace tc
