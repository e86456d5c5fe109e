// The image conditioning of ToonCrafter: FrozenOpenCLIPImageEmbedderV2 (lvdm/modules/encoders/condition.py),
// the open_clip vision tower (ViT-H-14 for the published model) read out as all 257 tokens after the last
// block: no ln_post, no projection. The embedder's open_clip model still holds the text-side tensors (only
// the text `transformer` is deleted), so they are declared unused to keep the weight map strict.
// Module root = "embedder.model.".
#pragma once

#include "io/model_config.h"
#include "models/clip_transformer.h"

namespace tc {

// open_clip VisionTransformer (open_clip/transformer.py), as the `visual` submodule.
class ClipVisionTransformer : public Module {
public:
    explicit ClipVisionTransformer(const OpenClipConfig& m);
    // x[B, 3, S, S] (preprocessed, S = image_size) -> [B, grid^2 + 1, width], the output of the last block.
    Tensor forward(const Tensor& x) const;

    int64_t width, image_size, patch_size, grid;
    Param* class_embedding;       // [W]
    Param* positional_embedding;  // [grid^2 + 1, W]
    Param* proj;                  // [W, embed_dim], unused
    Conv2d* conv1;
    LayerNorm* ln_pre;
    ClipTransformer* transformer;
    LayerNorm* ln_post;           // unused
};

class ClipImageEmbedder : public Module {
public:
    explicit ClipImageEmbedder(const ClipEmbedderConfig& cfg);
    Tensor preprocess(const Tensor& images) const;  // [B,3,H,W] in [-1,1] -> [B,3,224,224] (kornia bicubic AA resize, (x+1)/2, CLIP mean/std)
    Tensor forward(const Tensor& images) const;     // [B,3,H,W] in [-1,1] -> [B,257,vision_width] (calls preprocess)
    Tensor forward_preprocessed(const Tensor& x224) const;

    // Unused text-side tensors of the open_clip model (declared in state_dict order).
    Param* positional_embedding;
    Param* text_projection;
    Param* logit_scale;
    ClipVisionTransformer* visual;
    ClipTokenEmbedding* token_embedding;
    LayerNorm* ln_final;
};

}  // namespace tc
