// LatentVisualDiffusion's module tree and strict loading; see tooncrafter_model.h.
#include "models/tooncrafter_model.h"

#include <algorithm>

#include "io/weight_map.h"

namespace tc {

DiffusionWrapper::DiffusionWrapper(const UNetConfig& cfg) {
    diffusion_model = &child<UNet3D>("diffusion_model", cfg);
}

Tensor DiffusionWrapper::forward(const Tensor& x_t, const Tensor& c_concat, const Tensor& t, const Tensor& context,
                                 const Tensor& fs, const UNet3D::Observer* observe) const {
    TC_CHECK(x_t.dim() == 5 && c_concat.dim() == 5 && x_t.size(0) == c_concat.size(0) &&
                 x_t.size(2) == c_concat.size(2) && x_t.size(3) == c_concat.size(3) && x_t.size(4) == c_concat.size(4),
             "DiffusionWrapper: x_t ", shape_str(x_t.shape()), " and c_concat ", shape_str(c_concat.shape()),
             " must be [B, C, T, h, w] of the same B, T, h, w");
    // ddpm3d.py DiffusionWrapper.forward, 'hybrid': xc = torch.cat([x] + c_concat, dim=1).
    Tensor xc = ops::concat({x_t, c_concat}, 1);  // [B, 8, T, h, w]
    return diffusion_model->forward(xc, t, context, fs, observe);
}

FrozenOpenCLIPEmbedder::FrozenOpenCLIPEmbedder(const ClipEmbedderConfig& cfg) {
    model = &child<ClipTextEmbedder>("model", cfg);
}

FrozenOpenCLIPImageEmbedderV2::FrozenOpenCLIPImageEmbedderV2(const ClipEmbedderConfig& cfg) {
    model = &child<ClipImageEmbedder>("model", cfg);
}

const std::vector<std::string>& ToonCrafterModel::schedule_buffer_names() {
    static const std::vector<std::string> names{
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
        "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
        "scale_arr"};
    return names;
}

ToonCrafterModel::ToonCrafterModel(const ToonCrafterConfig& cfg) : cfg_(cfg) {
    TC_CHECK(cfg.timesteps >= 2, "model: timesteps must be >= 2, got ", cfg.timesteps);
    // The buffers come first in the state_dict (registered in DDPM.__init__ before the submodules).
    // The DDIM sampler reads alphas_cumprod, the two sqrt tables and scale_arr; the rest are training-only.
    static const std::vector<std::string> sampler_uses{"alphas_cumprod", "sqrt_alphas_cumprod",
                                                       "sqrt_one_minus_alphas_cumprod", "scale_arr"};
    for (const std::string& name : schedule_buffer_names()) {
        // scale_arr = linspace(1, base_scale, turning_step = 400) ++ full(timesteps, base_scale).
        const int64_t n = name == "scale_arr" ? 400 + int64_t(cfg.timesteps) : int64_t(cfg.timesteps);
        const bool used = std::find(sampler_uses.begin(), sampler_uses.end(), name) != sampler_uses.end();
        buffers_.emplace_back(name, &buffer(name, {n}, used));
    }
    model = &child<DiffusionWrapper>("model", cfg.unet);
    first_stage_model = &child<VAE>("first_stage_model", cfg.vae);
    cond_stage_model = &child<FrozenOpenCLIPEmbedder>("cond_stage_model", cfg.cond_stage);
    embedder = &child<FrozenOpenCLIPImageEmbedderV2>("embedder", cfg.img_cond_stage);
    image_proj_model = &child<Resampler>("image_proj_model", cfg.image_proj);
}

std::unique_ptr<ToonCrafterModel> ToonCrafterModel::load(const ToonCrafterConfig& cfg, const TensorSource& src) {
    auto m = std::make_unique<ToonCrafterModel>(cfg);
    bind_weights(*m, src, BindOptions{});
    return m;
}

std::vector<float> ToonCrafterModel::buffer_values(const std::string& name) const {
    for (const auto& [n, p] : buffers_) {
        if (n != name) continue;
        return weight_of(*p, name.c_str()).to_vector();
    }
    TC_FAIL("model has no schedule buffer named '", name, "'");
}

}  // namespace tc
