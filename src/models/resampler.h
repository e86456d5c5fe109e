// The image-context projector of ToonCrafter: lvdm/modules/encoders/resampler.py Resampler (a Perceiver
// resampler, with video_length so that it emits num_queries tokens per frame). It turns the 257 CLIP vision
// tokens into num_queries * video_length context tokens for the UNet's image cross-attention.
// Module root = "image_proj_model.".
#pragma once

#include "io/model_config.h"
#include "models/layers.h"

namespace tc {

// resampler.py PerceiverAttention: queries from the latents, keys/values from [x ; latents].
class PerceiverAttention : public Module {
public:
    PerceiverAttention(int64_t dim, int64_t dim_head, int64_t heads);
    // x[B, N, dim] (projected image tokens), latents[B, Q, dim] -> [B, Q, dim]
    Tensor forward(const Tensor& x, const Tensor& latents) const;
    int64_t dim, dim_head, heads;
    LayerNorm* norm1;
    LayerNorm* norm2;
    Linear* to_q;
    Linear* to_kv;
    Linear* to_out;
};

// resampler.py FeedForward: nn.Sequential(LayerNorm, Linear(no bias), GELU, Linear(no bias)).
class ResamplerFeedForward : public ModuleList {
public:
    ResamplerFeedForward(int64_t dim, int64_t mult);
    Tensor forward(const Tensor& x) const;
};

class Resampler : public Module {
public:
    explicit Resampler(const ResamplerConfig& cfg);
    Tensor forward(const Tensor& image_tokens) const;  // [B,257,embedding_dim] -> [B,num_queries*video_length,output_dim]

    ResamplerConfig cfg;
    int64_t queries;  // num_queries * video_length
    Param* latents;   // [1, queries, dim]
    Linear* proj_in;
    Linear* proj_out;
    LayerNorm* norm_out;
    ModuleList* layers;  // layers.N = ModuleList[PerceiverAttention, FeedForward]
};

}  // namespace tc
