// FrozenOpenCLIPImageEmbedderV2.preprocess / encode_with_vision_transformer
// (lvdm/modules/encoders/condition.py) over open_clip's VisionTransformer (open_clip/transformer.py 2.22.0).
#include "models/clip_vision.h"

namespace tc {

// OPENAI_DATASET_MEAN / OPENAI_DATASET_STD (open_clip/constants.py), registered by the embedder as the
// non-persistent buffers `mean` and `std`.
static const std::vector<float> kClipMean{0.48145466f, 0.4578275f, 0.40821073f};
static const std::vector<float> kClipStd{0.26862954f, 0.26130258f, 0.27577711f};

// ---------------------------------------------------------------------------------------------- visual

ClipVisionTransformer::ClipVisionTransformer(const OpenClipConfig& m) {
    width = m.vision_width;
    image_size = m.vision_image_size;
    patch_size = m.vision_patch_size;
    TC_CHECK(patch_size > 0 && image_size % patch_size == 0, "ClipVisionTransformer: image_size ", image_size,
             " is not a multiple of patch_size ", patch_size);
    TC_CHECK(m.vision_head_width > 0 && width % m.vision_head_width == 0, "ClipVisionTransformer: width ", width,
             " is not a multiple of head_width ", m.vision_head_width);
    grid = image_size / patch_size;
    const int64_t heads = width / m.vision_head_width;
    const int64_t mlp_width = int64_t(float(width) * m.vision_mlp_ratio);

    // state_dict order: Parameters of the module itself, then submodules in construction order.
    class_embedding = &param("class_embedding", {width});
    positional_embedding = &param("positional_embedding", {grid * grid + 1, width});
    proj = &param("proj", {width, int64_t(m.embed_dim)}, /*used=*/false);
    conv1 = &child<Conv2d>("conv1", 3, width, patch_size, /*stride=*/patch_size, /*pad=*/0, /*bias=*/false);
    ln_pre = &child<LayerNorm>("ln_pre", width, 1e-5f);
    transformer = &child<ClipTransformer>("transformer", width, int64_t(m.vision_layers), heads, mlp_width);
    ln_post = &child<LayerNorm>("ln_post", width, 1e-5f);
    ln_post->visit_params([](const std::string&, Param& p) { p.used = false; });
}

Tensor ClipVisionTransformer::forward(const Tensor& x) const {
    TC_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) == image_size && x.size(3) == image_size,
             "ClipVisionTransformer: expected [B, 3, ", image_size, ", ", image_size, "], got ", x.describe());
    const int64_t B = x.size(0);
    Tensor p = conv1->forward(x);                                    // [B, W, grid, grid]
    p = p.reshape({B, width, grid * grid}).permute({0, 2, 1});      // [B, grid^2, W]
    // class_embedding + zeros(B, 1, W): one copy of the class token per batch item.
    Tensor cls = weight_of(*class_embedding, "class_embedding").view({1, 1, width});
    Tensor cls_b = ops::concat(std::vector<Tensor>(size_t(B), cls), 0);  // [B, 1, W]
    Tensor t = ops::concat({cls_b, p}, 1);                                 // [B, grid^2 + 1, W]
    t = ops::add(t, weight_of(*positional_embedding, "positional_embedding"));
    // patch_dropout is the identity at inference; input_patchnorm is off for ViT-H-14.
    t = ln_pre->forward(t);
    return transformer->forward(t, /*mask=*/nullptr);  // [B, grid^2+1, W]; no ln_post, no proj
}

// ---------------------------------------------------------------------------------------------- embedder

ClipImageEmbedder::ClipImageEmbedder(const ClipEmbedderConfig& cfg) {
    const OpenClipConfig& m = cfg.model;
    const int64_t tw = m.text_width;
    positional_embedding = &param("positional_embedding", {int64_t(m.text_context_length), tw}, false);
    text_projection = &param("text_projection", {tw, int64_t(m.embed_dim)}, false);
    logit_scale = &param("logit_scale", {}, false);
    visual = &child<ClipVisionTransformer>("visual", m);
    token_embedding = &child<ClipTokenEmbedding>("token_embedding", int64_t(m.text_vocab_size), tw, false);
    ln_final = &child<LayerNorm>("ln_final", tw, 1e-5f);
    ln_final->visit_params([](const std::string&, Param& p) { p.used = false; });
}

Tensor ClipImageEmbedder::preprocess(const Tensor& images) const {
    TC_CHECK(images.dim() == 4 && images.size(1) == 3, "ClipImageEmbedder: expected images [B, 3, H, W], got ",
             images.describe());
    const int64_t S = visual->image_size;
    // kornia.geometry.resize(x, (224, 224), 'bicubic', align_corners=True, antialias=True)
    Tensor x = ops::resize_bicubic_aa(images, S, S);  // [B, 3, 224, 224]
    x = ops::affine_scalar(x, 0.5f, 0.5f);            // (x + 1) / 2 (bit-identical: the halving is exact)
    // kornia.enhance.normalize: (x - mean) / std per channel
    Tensor mean = Tensor::from_vector(kClipMean, {1, 3, 1, 1}).to(x.device());
    Tensor std = Tensor::from_vector(kClipStd, {1, 3, 1, 1}).to(x.device());
    return ops::div(ops::sub(x, mean), std);
}

Tensor ClipImageEmbedder::forward(const Tensor& images) const { return forward_preprocessed(preprocess(images)); }

Tensor ClipImageEmbedder::forward_preprocessed(const Tensor& x224) const { return visual->forward(x224); }

}  // namespace tc
