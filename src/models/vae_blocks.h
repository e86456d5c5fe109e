// The building blocks of ToonCrafter's autoencoder (AutoencoderKL_Dualref): the 2D blocks of the image
// encoder (lvdm/modules/networks/ae_modules.py) and the video blocks of the dual-reference decoder
// (lvdm/models/autoencoder_dualref.py, itself derived from Stability-AI generative-models). Parameter names
// are the official state_dict names below `first_stage_model.{encoder,decoder}.`.
//
// Frame layout: per-frame tensors are [B*T, C, h, w], frame-major within each batch item (einops "(b t)");
// reference maps are [B, C, 2, h, w] (the hidden states of frame 0 and frame T-1 stacked on dim 2).
#pragma once

#include "models/layers.h"

namespace tc {

// ae_modules.py / autoencoder_dualref.py Normalize(): GroupNorm(32 groups, eps 1e-6, affine).
inline constexpr int64_t kVaeGroups = 32;
inline constexpr float kVaeNormEps = 1e-6f;

// ResnetBlock with temb_channels = 0 (the autoencoder never has a time embedding):
// h = conv1(SiLU(norm1 x)); h = conv2(SiLU(norm2 h)); return shortcut(x) + h, where shortcut is the 1x1
// `nin_shortcut` when the channel count changes (conv_shortcut is never used). Dropout is 0 at inference.
class ResnetBlock : public Module {
public:
    ResnetBlock(int64_t in_channels, int64_t out_channels);
    Tensor forward(const Tensor& x) const;  // [N, in, h, w] -> [N, out, h, w]
    int64_t in_channels, out_channels;
    GroupNorm* norm1;
    Conv2d* conv1;
    GroupNorm* norm2;
    Conv2d* conv2;
    Conv2d* nin_shortcut = nullptr;
};

// Single-head spatial self-attention over the h*w positions with 1x1-conv q/k/v/proj_out and scale C^-0.5:
// ae_modules.py AttnBlock (encoder, bmm + softmax) and autoencoder_dualref.py MemoryEfficientAttnBlock
// (decoder, xformers) are the same math and have the same parameters. Returns x + proj_out(attn).
class AttnBlock : public Module {
public:
    explicit AttnBlock(int64_t channels);
    Tensor forward(const Tensor& x) const;  // [N, C, h, w] -> [N, C, h, w]
    int64_t channels;
    GroupNorm* norm;
    Conv2d* q;
    Conv2d* k;
    Conv2d* v;
    Conv2d* proj_out;
};

// ae_modules.py Downsample(with_conv=True): zero-pad right and bottom by one, then a 3x3 stride-2 conv.
class Downsample : public Module {
public:
    explicit Downsample(int64_t channels);
    Tensor forward(const Tensor& x) const;  // [N, C, h, w] -> [N, C, ceil(h/2), ceil(w/2)]
    Conv2d* conv;
};

// Upsample(use_conv=True): nearest x2, then a 3x3 conv (the decoder resolves `Upsample` to
// lvdm/modules/networks/openaimodel3d.py Upsample with dims=2, which is this math).
class Upsample : public Module {
public:
    explicit Upsample(int64_t channels);
    Tensor forward(const Tensor& x) const;  // [N, C, h, w] -> [N, C, 2h, 2w]
    Conv2d* conv;
};

// The `time_stack` of a VideoResBlock: the generative-models ResBlock with dims=3, kernel (3,1,1),
// padding (1,0,0), skip_t_emb=True (the zero embedding adds nothing) and an identity skip:
// h = in_layers(x) = Conv3d(SiLU(GN x)); h = out_layers(h) = Conv3d(SiLU(GN h)); return x + h.
// Its norms are lvdm/basics.py normalization(): GroupNorm(32) with the torch default eps 1e-5.
// Sequential indices: in_layers.{0: GN, 1: SiLU, 2: Conv3d}, out_layers.{0: GN, 1: SiLU, 2: Dropout, 3: Conv3d}.
class TimeStackResBlock : public Module {
public:
    explicit TimeStackResBlock(int64_t channels);
    Tensor forward(const Tensor& x) const;  // [B, C, T, h, w] -> [B, C, T, h, w]
    int64_t channels;
    GroupNorm* in_norm;
    Conv3d* in_conv;
    GroupNorm* out_norm;
    Conv3d* out_conv;
};

// autoencoder_dualref.py VideoResBlock (merge_strategy "learned"): the 2D ResnetBlock on every frame, then
// the time_stack over [B, C, T, h, w], mixed as alpha*temporal + (1-alpha)*spatial, alpha = sigmoid(mix_factor).
class VideoResBlock : public ResnetBlock {
public:
    VideoResBlock(int64_t in_channels, int64_t out_channels);
    Tensor forward(const Tensor& x, int64_t timesteps) const;  // [B*T, in, h, w] -> [B*T, out, h, w]
    Param* mix_factor;  // [1]
    TimeStackResBlock* time_stack;
};

// autoencoder_dualref.py Combiner: a 1x1 conv on each of the two reference maps, added to frame 0 and to
// frame T-1 of each batch item (and to nothing in between).
class Combiner : public Module {
public:
    explicit Combiner(int64_t channels);
    // x [B*T, C, h, w], context [B, C, 2, h, w] -> [B*T, C, h, w].
    Tensor forward(const Tensor& x, const Tensor& context) const;
    Conv2d* conv;
};

// autoencoder_dualref.py MemoryEfficientCrossAttentionWrapperFusion (a MemoryEfficientCrossAttention from
// lvdm/modules/attention_svd.py with 8 heads x 64, fixed in code): q = to_q(GN x) for every frame; k and v
// come from the un-normalised reference maps of frame 0 and frame T-1, concatenated to 2*h*w keys that every
// frame of the batch item attends to; to_q/to_k/to_v have no bias, to_out.0 has one. Returns x + out.
class FusionCrossAttention : public Module {
public:
    FusionCrossAttention(int64_t query_dim, int64_t heads = 8, int64_t dim_head = 64);
    // x [B*T, C, h, w], context [B, C, 2, h, w] -> [B*T, C, h, w].
    Tensor forward(const Tensor& x, const Tensor& context) const;
    int64_t query_dim, heads, dim_head;
    Linear* to_q;
    Linear* to_k;
    Linear* to_v;
    Linear* to_out;  // to_out.0 (to_out.1 is Dropout)
    GroupNorm* norm;
};

// autoencoder_dualref.py AE3DConv: a 3x3 Conv2d on every frame (its own weight/bias), then `time_mix_conv`,
// a Conv3d with kernel (3,1,1) and padding (1,0,0) over [B, C, T, H, W].
class AE3DConv : public Module {
public:
    AE3DConv(int64_t in_channels, int64_t out_channels);
    Tensor forward(const Tensor& x, int64_t timesteps) const;  // [B*T, in, H, W] -> [B*T, out, H, W]
    int64_t in_channels, out_channels;
    Param* weight;  // [out, in, 3, 3]
    Param* bias;    // [out]
    Conv3d* time_mix_conv;
};

// "(b t) c h w -> b c t h w" and back, as views where possible.
Tensor frames_to_video(const Tensor& x, int64_t timesteps);  // [B*T, C, h, w] -> [B, C, T, h, w] (a view)
Tensor video_to_frames(const Tensor& x);                     // [B, C, T, h, w] -> [B*T, C, h, w] (contiguous)

}  // namespace tc
