// The convolutional blocks of the DynamiCrafter/ToonCrafter video UNet
// (lvdm/modules/networks/openaimodel3d.py): ResBlock with its TemporalConvBlock, Downsample and Upsample (named
// UNetDownsample / UNetUpsample here: the VAE has its own Downsample and Upsample in namespace tc).
// The UNet keeps activations per frame, [B*T, C, h, w] (frame-major within each batch item, einops
// `(b t)`); the temporal parts regroup them to [B, C, T, h, w] internally.
// Parameter names are the official state_dict names, including the misspelt `temopral_conv`.
#pragma once

#include "models/layers.h"

namespace tc {

// TemporalConvBlock (openaimodel3d.py, adapted from modelscope): four (GroupNorm(32, eps 1e-5), SiLU,
// [Dropout], Conv3d kernel (3,1,1) padding (1,0,0)) stages added to the input. ToonCrafter builds it with
// spatial_aware=False, the only variant ported here. Sequential indices: conv1 = {0 GN, 1 SiLU, 2 conv},
// conv2..4 = {0 GN, 1 SiLU, 2 Dropout, 3 conv}.
class TemporalConvBlock : public Module {
public:
    TemporalConvBlock(int64_t in_channels, int64_t out_channels);
    Tensor forward(const Tensor& x) const;  // [B, C, T, h, w] -> [B, C, T, h, w]
    int64_t in_channels, out_channels;

private:
    struct Stage {
        GroupNorm* norm;
        Conv3d* conv;
    };
    Stage stages_[4];
};

// ResBlock (openaimodel3d.py) as ToonCrafter configures it: no scale-shift norm, no up/down variant.
//   h = conv(SiLU(GN x)); h += Linear(SiLU emb); h = conv(SiLU(GN h)); h = skip(x) + h;
//   then, with use_temporal_conv, h = TemporalConvBlock(h) over [B, C, T, h, w].
// GroupNorm is `normalization()`: 32 groups, eps 1e-5. skip is identity when the channel count is kept,
// else a 1x1 conv.
class ResBlock : public Module {
public:
    ResBlock(int64_t channels, int64_t emb_channels, int64_t out_channels, bool use_temporal_conv);
    // x [B*T, C, h, w], emb [B*T, emb_channels], batch_size B -> [B*T, out_channels, h, w].
    Tensor forward(const Tensor& x, const Tensor& emb, int64_t batch_size) const;
    int64_t channels, out_channels;

private:
    GroupNorm* in_norm_;
    Conv2d* in_conv_;
    Linear* emb_linear_;
    GroupNorm* out_norm_;
    Conv2d* out_conv_;
    Conv2d* skip_ = nullptr;
    TemporalConvBlock* temporal_ = nullptr;
};

// Downsample (openaimodel3d.py) with conv_resample=True, dims=2: a 3x3 conv with stride 2 and padding 1 (`op`).
class UNetDownsample : public Module {
public:
    UNetDownsample(int64_t channels, int64_t out_channels);
    Tensor forward(const Tensor& x) const;  // [N, C, h, w] -> [N, out, ceil(h/2), ceil(w/2)]
    int64_t channels;
    Conv2d* op;
};

// Upsample (openaimodel3d.py) with conv_resample=True, dims=2: nearest 2x, then a 3x3 conv with padding 1 (`conv`).
class UNetUpsample : public Module {
public:
    UNetUpsample(int64_t channels, int64_t out_channels);
    Tensor forward(const Tensor& x) const;  // [N, C, h, w] -> [N, out, 2h, 2w]
    int64_t channels;
    Conv2d* conv;
};

namespace unet {
// Regroups per-frame activations for the temporal layers and back (einops '(b t) c h w <-> b c t h w').
// (The VAE has its own pair, keyed by the frame count.)
Tensor to_video(const Tensor& x, int64_t batch_size);  // [B*T, C, h, w] -> [B, C, T, h, w] (contiguous)
Tensor to_frames(const Tensor& x);                     // [B, C, T, h, w] -> [B*T, C, h, w] (contiguous)
}  // namespace unet

}  // namespace tc
