// The attention layers of the DynamiCrafter/ToonCrafter video UNet (lvdm/modules/attention.py):
// CrossAttention (with ToonCrafter's image branch to_k_ip/to_v_ip), GEGLU FeedForward, BasicTransformerBlock,
// SpatialTransformer (attention over the pixels of each frame) and TemporalTransformer (attention over the
// frames of each pixel). Names follow the official state_dict; dropout is identity at inference.
#pragma once

#include "models/layers.h"

namespace tc {

// CrossAttention (attention.py). q = to_q(x); k, v = to_k/to_v(context, or x when there is no context);
// out = to_out(softmax(q k^T / sqrt(dim_head)) v). With image_cross_attention and a context, the context
// is split at text_context_len: the text part goes through to_k/to_v, the rest (image tokens) through
// to_k_ip/to_v_ip, and out = attn(text) + 1.0 * attn(image) (image_cross_attention_scale = 1, not learnable
// in ToonCrafter). Without the image branch a given context is cut to its first text_context_len tokens,
// as the official code does.
class CrossAttention : public Module {
public:
    // context_dim 0 means "same as query_dim" (torch: context_dim=None).
    CrossAttention(int64_t query_dim, int64_t context_dim, int64_t heads, int64_t dim_head,
                   bool image_cross_attention = false, int64_t text_context_len = 77);
    // x [N, Lq, query_dim]; context [N, L, context_dim] or null (self-attention) -> [N, Lq, query_dim].
    Tensor forward(const Tensor& x, const Tensor* context) const;
    int64_t query_dim, context_dim, heads, dim_head;
    bool image_cross_attention;
    int64_t text_context_len;

private:
    Linear* to_q_;
    Linear* to_k_;
    Linear* to_v_;
    Linear* to_out_;
    Linear* to_k_ip_ = nullptr;
    Linear* to_v_ip_ = nullptr;
};

// GEGLU (attention.py): proj = Linear(dim_in, 2*dim_out), then value * gelu(gate) with the value half first.
class GEGLU : public Module {
public:
    GEGLU(int64_t dim_in, int64_t dim_out);
    Tensor forward(const Tensor& x) const;  // [..., dim_in] -> [..., dim_out]
    Linear* proj;
};

// FeedForward(dim, mult=4, glu=True): net = [GEGLU(dim, 4 dim), Dropout, Linear(4 dim, dim)].
class FeedForward : public Module {
public:
    explicit FeedForward(int64_t dim, int64_t mult = 4);
    Tensor forward(const Tensor& x) const;  // [..., dim] -> [..., dim]

private:
    GEGLU* project_in_;
    Linear* project_out_;
};

// BasicTransformerBlock (attention.py) with disable_self_attn=False and gated_ff=True:
//   x += attn1(norm1 x); x += attn2(norm2 x, context); x += ff(norm3 x). LayerNorm eps 1e-5 (torch default).
// Declaration order follows the official module: attn1, ff, attn2, norm1, norm2, norm3.
class BasicTransformerBlock : public Module {
public:
    // context_dim 0: attn2 is a second self-attention (the temporal transformers).
    BasicTransformerBlock(int64_t dim, int64_t heads, int64_t dim_head, int64_t context_dim,
                          bool image_cross_attention);
    Tensor forward(const Tensor& x, const Tensor* context) const;  // [N, L, dim] -> [N, L, dim]

private:
    CrossAttention* attn1_;
    FeedForward* ff_;
    CrossAttention* attn2_;
    LayerNorm* norm1_;
    LayerNorm* norm2_;
    LayerNorm* norm3_;
};

// proj_in / proj_out of the transformers: a per-position channel projection, declared either as
// nn.Linear (weight [out, in]; use_linear=True) or as a kernel-1 nn.Conv1d / nn.Conv2d (weight
// [out, in, 1] / [out, in, 1, 1]); all three are the same product, applied here over the last dim.
class ChannelProjection : public Module {
public:
    ChannelProjection(int64_t in, int64_t out, int64_t kernel_dims);  // kernel_dims: 0 Linear, 1 Conv1d, 2 Conv2d
    Tensor forward(const Tensor& x) const;                           // [..., in] -> [..., out]
    int64_t in, out;

private:
    Param* weight_;
    Param* bias_;
};

// SpatialTransformer (attention.py): per frame, GroupNorm(32, eps 1e-6), proj_in, the blocks over the h*w
// tokens (attn2 against the frame's context), proj_out, plus the input.
class SpatialTransformer : public Module {
public:
    SpatialTransformer(int64_t in_channels, int64_t heads, int64_t dim_head, int64_t depth, int64_t context_dim,
                       bool use_linear, bool image_cross_attention);
    // x [N, C, h, w], context [N, L, context_dim] (one row per frame) -> [N, C, h, w].
    Tensor forward(const Tensor& x, const Tensor& context) const;
    int64_t in_channels, inner_dim;

private:
    GroupNorm* norm_;
    ChannelProjection* proj_in_;
    std::vector<BasicTransformerBlock*> blocks_;
    ChannelProjection* proj_out_;
};

// TemporalTransformer (attention.py) as ToonCrafter uses it: only_self_att=True, no causal mask, no
// relative position. GroupNorm(32, eps 1e-6) over [B, C, T, h, w], then the blocks over the T frames of
// each pixel, sequences (b h w, T, C); both attn1 and attn2 are self-attention.
class TemporalTransformer : public Module {
public:
    TemporalTransformer(int64_t in_channels, int64_t heads, int64_t dim_head, int64_t depth, bool use_linear);
    // Per-frame activations in and out: x [B*T, C, h, w], batch_size B -> [B*T, C, h, w].
    Tensor forward(const Tensor& x, int64_t batch_size) const;
    int64_t in_channels, inner_dim;

private:
    GroupNorm* norm_;
    ChannelProjection* proj_in_;
    std::vector<BasicTransformerBlock*> blocks_;
    ChannelProjection* proj_out_;
};

}  // namespace tc
