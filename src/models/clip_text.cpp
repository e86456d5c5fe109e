// FrozenOpenCLIPEmbedder.encode_with_transformer (lvdm/modules/encoders/condition.py) over the open_clip
// text tower (open_clip/model.py CLIP, 2.22.0).
#include "models/clip_text.h"

namespace tc {

ClipTextEmbedder::ClipTextEmbedder(const ClipEmbedderConfig& cfg) {
    const OpenClipConfig& m = cfg.model;
    width = m.text_width;
    context_length = m.text_context_length;
    TC_CHECK(m.text_layers >= 1, "ClipTextEmbedder: text_layers must be >= 1, got ", m.text_layers);
    // condition.py: layer "last" -> layer_idx 0, "penultimate" -> layer_idx 1; the loop stops at block
    // len(resblocks) - layer_idx.
    if (cfg.layer == "penultimate")
        blocks_run = m.text_layers - 1;
    else if (cfg.layer == "last")
        blocks_run = m.text_layers;
    else
        TC_FAIL("ClipTextEmbedder: layer must be 'last' or 'penultimate', got '", cfg.layer, "'");
    const int64_t mlp_width = int64_t(float(width) * m.text_mlp_ratio);

    // Declaration order = state_dict order: the CLIP module's own Parameters first, then its submodules.
    positional_embedding = &param("positional_embedding", {context_length, width});
    text_projection = &param("text_projection", {width, int64_t(m.embed_dim)}, /*used=*/false);
    logit_scale = &param("logit_scale", {}, /*used=*/false);
    transformer = &child<ClipTransformer>("transformer", width, int64_t(m.text_layers), int64_t(m.text_heads),
                                          mlp_width);
    token_embedding = &child<ClipTokenEmbedding>("token_embedding", int64_t(m.text_vocab_size), width);
    ln_final = &child<LayerNorm>("ln_final", width, 1e-5f);
}

Tensor ClipTextEmbedder::forward(const Tensor& token_ids) const {
    TC_CHECK(token_ids.dim() == 2 && token_ids.size(1) == context_length, "ClipTextEmbedder: expected token ids [B, ",
             context_length, "], got ", token_ids.describe());
    const Tensor& pos = weight_of(*positional_embedding, "positional_embedding");
    Tensor x = token_embedding->forward(token_ids);                       // [B, 77, W]
    x = ops::add(x, pos);                                                 // + positional_embedding [77, W]
    Tensor mask = clip_causal_mask(context_length, x.device());          // [77, 77], -inf above the diagonal
    x = transformer->forward(x, &mask, blocks_run);                      // [B, 77, W]
    return ln_final->forward(x);                                          // [B, 77, W]
}

}  // namespace tc
