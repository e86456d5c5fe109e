// The root of the ToonCrafter model tree: lvdm/models/ddpm3d.py LatentVisualDiffusion as the official
// checkpoint stores it. Its dotted parameter names are exactly the state_dict keys of model.ckpt
// (golden/full_keys.tsv, 2,668 entries):
//   betas ... scale_arr            the 13 diffusion schedule buffers (DDPM.register_schedule, scale_arr)
//   model.diffusion_model.*        UNet3D, inside DiffusionWrapper ("hybrid" conditioning)
//   first_stage_model.*            VAE (AutoencoderKL_Dualref)
//   cond_stage_model.model.*       ClipTextEmbedder (FrozenOpenCLIPEmbedder's open_clip model)
//   embedder.model.*               ClipImageEmbedder (FrozenOpenCLIPImageEmbedderV2's open_clip model)
//   image_proj_model.*             Resampler
// Non-persistent buffers (lvlb_weights, the CLIP attn_masks, embedder.mean/std) are not in the checkpoint
// and not declared here. The sampling itself lives in pipeline/ (ddim, interpolate).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/module.h"
#include "io/model_config.h"
#include "io/tensor_source.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/resampler.h"
#include "models/unet3d.h"
#include "models/vae.h"

namespace tc {

// ddpm3d.py DiffusionWrapper with conditioning_key "hybrid": the UNet sees cat([x_t, c_concat], dim=1).
class DiffusionWrapper : public Module {
public:
    explicit DiffusionWrapper(const UNetConfig& cfg);
    // x_t [B, 4, T, h, w], c_concat [B, 4, T, h, w], t [B] F32, context [B, L, ctx], fs [B] F32 -> v [B, 4, T, h, w].
    Tensor forward(const Tensor& x_t, const Tensor& c_concat, const Tensor& t, const Tensor& context,
                   const Tensor& fs, const UNet3D::Observer* observe = nullptr) const;
    UNet3D* diffusion_model;
};

// condition.py FrozenOpenCLIPEmbedder: the open_clip text model under "model".
class FrozenOpenCLIPEmbedder : public Module {
public:
    explicit FrozenOpenCLIPEmbedder(const ClipEmbedderConfig& cfg);
    Tensor forward(const Tensor& token_ids) const { return model->forward(token_ids); }  // [B,77] I64 -> [B,77,W]
    ClipTextEmbedder* model;
};

// condition.py FrozenOpenCLIPImageEmbedderV2: the open_clip vision model under "model".
class FrozenOpenCLIPImageEmbedderV2 : public Module {
public:
    explicit FrozenOpenCLIPImageEmbedderV2(const ClipEmbedderConfig& cfg);
    Tensor forward(const Tensor& images) const { return model->forward(images); }  // [B,3,H,W] in [-1,1] -> [B,257,Wv]
    ClipImageEmbedder* model;
};

class ToonCrafterModel : public Module {
public:
    // The 13 schedule buffers, in state_dict order.
    static const std::vector<std::string>& schedule_buffer_names();

    // Declares the whole tree (allocates nothing); weights are bound by load() or io/weight_map.
    explicit ToonCrafterModel(const ToonCrafterConfig& cfg);

    // Builds the tree for `cfg` and binds every declared tensor from `src` strictly: a missing, unused or
    // wrongly shaped tensor is an error that lists them all.
    static std::unique_ptr<ToonCrafterModel> load(const ToonCrafterConfig& cfg, const TensorSource& src);

    const ToonCrafterConfig& config() const { return cfg_; }

    // The values of a bound schedule buffer (throws if it is not declared or not bound).
    std::vector<float> buffer_values(const std::string& name) const;

    // LatentDiffusion.get_learned_conditioning for token ids: [B,77] I64 -> [B,77,context_dim].
    Tensor text_context(const Tensor& token_ids) const { return cond_stage_model->forward(token_ids); }
    // embedder then image_proj_model: [B,3,H,W] in [-1,1] -> ([B,257,Wv] tokens, [B,16·T,context_dim]).
    Tensor clip_image_tokens(const Tensor& images) const { return embedder->forward(images); }
    Tensor image_context(const Tensor& clip_tokens) const { return image_proj_model->forward(clip_tokens); }

    DiffusionWrapper* model;
    VAE* first_stage_model;
    FrozenOpenCLIPEmbedder* cond_stage_model;
    FrozenOpenCLIPImageEmbedderV2* embedder;
    Resampler* image_proj_model;

private:
    ToonCrafterConfig cfg_;
    std::vector<std::pair<std::string, Param*>> buffers_;
};

}  // namespace tc
