// The text conditioning of ToonCrafter: FrozenOpenCLIPEmbedder (lvdm/modules/encoders/condition.py), the
// open_clip text tower (ViT-H-14 for the published model) read out at layer "penultimate": token embedding
// + positional embedding, every block but the last under the causal mask, then ln_final. No text projection.
// Module root = what the checkpoint stores under "cond_stage_model.model.".
#pragma once

#include "io/model_config.h"
#include "models/clip_transformer.h"

namespace tc {

class ClipTextEmbedder : public Module {
public:
    explicit ClipTextEmbedder(const ClipEmbedderConfig& cfg);
    Tensor forward(const Tensor& token_ids) const;  // [B,77] I64 -> [B,77,width] F32

    int64_t width, context_length;
    int64_t blocks_run;  // blocks executed: layers - 1 for "penultimate", all for "last"
    Param* positional_embedding;  // [77, W]
    Param* text_projection;       // [W, embed_dim], unused
    Param* logit_scale;           // [], unused
    ClipTransformer* transformer;
    ClipTokenEmbedding* token_embedding;
    LayerNorm* ln_final;
};

}  // namespace tc
