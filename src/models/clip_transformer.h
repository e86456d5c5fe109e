// The open_clip transformer shared by the text and the vision tower (open_clip/transformer.py 2.22.0:
// Transformer -> ResidualAttentionBlock -> nn.MultiheadAttention + Mlp). Names follow the open_clip
// state_dict: `resblocks.N.{ln_1, attn.{in_proj_weight, in_proj_bias, out_proj}, ln_2, mlp.{c_fc, c_proj}}`.
// ToonCrafter's ViT-H-14 has no LayerScale (ls_1/ls_2) and no attention/MLP norms, so none are declared.
// open_clip runs the blocks sequence-first (LND); we run them batch-first ([B, L, W]), which is the same math.
#pragma once

#include "models/layers.h"

namespace tc {

// torch.nn.Embedding as a bare table: `weight` [num, dim].
class ClipTokenEmbedding : public Module {
public:
    ClipTokenEmbedding(int64_t num, int64_t dim, bool used = true);
    // ids[B, L] (I64, any device; read on the host) -> [B, L, dim] on the table's device.
    Tensor forward(const Tensor& ids) const;
    int64_t num, dim;
    Param* weight;
};

// torch.nn.MultiheadAttention(W, H) with the packed in-projection (q, k, v rows in that order) and
// out_proj; q is scaled by head_dim^-0.5 before the softmax.
class ClipMultiheadAttention : public Module {
public:
    ClipMultiheadAttention(int64_t width, int64_t heads);
    // x[B, L, W] self-attention; mask is additive [L, L] (or null) -> [B, L, W].
    Tensor forward(const Tensor& x, const Tensor* mask) const;
    int64_t width, heads;
    Param* in_proj_weight;  // [3W, W]
    Param* in_proj_bias;    // [3W]
    Linear* out_proj;
};

// open_clip Mlp: c_fc (W -> mlp_width), exact-erf GELU, c_proj (mlp_width -> W).
class ClipMlp : public Module {
public:
    ClipMlp(int64_t width, int64_t mlp_width);
    Tensor forward(const Tensor& x) const;
    Linear* c_fc;
    Linear* c_proj;
};

// x += attn(ln_1 x, mask); x += mlp(ln_2 x). LayerNorm eps 1e-5 (torch default).
class ClipResidualBlock : public Module {
public:
    ClipResidualBlock(int64_t width, int64_t heads, int64_t mlp_width);
    Tensor forward(const Tensor& x, const Tensor* mask) const;  // [B, L, W] -> [B, L, W]
    LayerNorm* ln_1;
    ClipMultiheadAttention* attn;
    LayerNorm* ln_2;
    ClipMlp* mlp;
};

class ClipTransformer : public Module {
public:
    ClipTransformer(int64_t width, int64_t layers, int64_t heads, int64_t mlp_width);
    // Runs the first n_blocks blocks (all when n_blocks < 0): [B, L, W] -> [B, L, W].
    Tensor forward(const Tensor& x, const Tensor* mask, int64_t n_blocks = -1) const;
    int64_t layers() const { return int64_t(resblocks->size()); }
    ModuleList* resblocks;
};

// The causal additive mask open_clip builds for the text tower (CLIP.build_attention_mask): 0 on and below
// the diagonal, -inf above, [L, L] float32 on `device`.
Tensor clip_causal_mask(int64_t length, Device device);

}  // namespace tc
