// ResBlock, TemporalConvBlock, Downsample and Upsample of lvdm/modules/networks/openaimodel3d.py.
#include "models/unet_blocks.h"

namespace tc {

// ---------------------------------------------------------------------------------------------- layout

namespace unet {
Tensor to_video(const Tensor& x, int64_t batch_size) {
    TC_CHECK(x.dim() == 4 && batch_size > 0 && x.size(0) % batch_size == 0, "unet::to_video: ", x.describe(),
             " is not [B*T, C, h, w] for B = ", batch_size);
    const int64_t B = batch_size, T = x.size(0) / batch_size, C = x.size(1), H = x.size(2), W = x.size(3);
    return ops::contiguous(x.view({B, T, C, H, W}).permute({0, 2, 1, 3, 4}));  // [B, C, T, h, w]
}

Tensor to_frames(const Tensor& x) {
    TC_CHECK(x.dim() == 5, "unet::to_frames: expected [B, C, T, h, w], got ", x.describe());
    const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
    return ops::contiguous(x.permute({0, 2, 1, 3, 4})).view({B * T, C, H, W});  // [B*T, C, h, w]
}
}  // namespace unet

// ---------------------------------------------------------------------------------------------- TemporalConvBlock

TemporalConvBlock::TemporalConvBlock(int64_t in, int64_t out) : in_channels(in), out_channels(out) {
    // conv1 maps in -> out, conv2..4 map out -> in (the official code; ToonCrafter uses in == out).
    const std::array<int64_t, 3> kernel{3, 1, 1}, pad{1, 0, 0};
    auto& c1 = child<ModuleList>("conv1");
    stages_[0].norm = &c1.add<GroupNorm>(32, in, 1e-5f);  // nn.GroupNorm(32, C): torch default eps
    c1.skip();                                            // nn.SiLU
    stages_[0].conv = &c1.add<Conv3d>(in, out, kernel, pad);
    for (int i = 1; i < 4; ++i) {
        auto& c = child<ModuleList>("conv" + std::to_string(i + 1));
        stages_[i].norm = &c.add<GroupNorm>(32, out, 1e-5f);
        c.skip();  // nn.SiLU
        c.skip();  // nn.Dropout (identity at inference)
        stages_[i].conv = &c.add<Conv3d>(out, in, kernel, pad);
    }
}

Tensor TemporalConvBlock::forward(const Tensor& x) const {
    TC_CHECK(x.dim() == 5 && x.size(1) == in_channels, "TemporalConvBlock(", in_channels, "): input ", x.describe());
    Tensor h = x;
    for (const Stage& s : stages_) h = s.conv->forward(s.norm->forward(h, Activation::SiLU));  // [B, C, T, h, w]
    return ops::add(x, h);  // identity + x
}

// ---------------------------------------------------------------------------------------------- ResBlock

ResBlock::ResBlock(int64_t ch, int64_t emb_channels, int64_t out_ch, bool use_temporal_conv)
    : channels(ch), out_channels(out_ch) {
    auto& in_layers = child<ModuleList>("in_layers");
    in_norm_ = &in_layers.add<GroupNorm>(32, ch, 1e-5f);  // normalization(channels): GroupNorm32
    in_layers.skip();                                     // nn.SiLU
    in_conv_ = &in_layers.add<Conv2d>(ch, out_ch, 3, 1, 1);

    auto& emb_layers = child<ModuleList>("emb_layers");
    emb_layers.skip();  // nn.SiLU
    emb_linear_ = &emb_layers.add<Linear>(emb_channels, out_ch);

    auto& out_layers = child<ModuleList>("out_layers");
    out_norm_ = &out_layers.add<GroupNorm>(32, out_ch, 1e-5f);
    out_layers.skip();  // nn.SiLU
    out_layers.skip();  // nn.Dropout
    out_conv_ = &out_layers.add<Conv2d>(out_ch, out_ch, 3, 1, 1);

    if (out_ch != ch) skip_ = &child<Conv2d>("skip_connection", ch, out_ch, 1);  // use_conv=False: 1x1
    if (use_temporal_conv) temporal_ = &child<TemporalConvBlock>("temopral_conv", out_ch, out_ch);  // sic
}

Tensor ResBlock::forward(const Tensor& x, const Tensor& emb, int64_t batch_size) const {
    TC_CHECK(x.dim() == 4 && x.size(1) == channels, "ResBlock(", channels, "): input ", x.describe());
    TC_CHECK(emb.dim() == 2 && emb.size(0) == x.size(0), "ResBlock: embedding ", emb.describe(), " for input ",
             x.describe());
    Tensor h = in_conv_->forward(in_norm_->forward(x, Activation::SiLU));           // [N, out, h, w]
    Tensor e = emb_linear_->forward(ops::silu(emb));                                 // [N, out]
    h = ops::add(h, e.view({e.size(0), out_channels, 1, 1}));                        // h + emb_out[..., None, None]
    h = out_conv_->forward(out_norm_->forward(h, Activation::SiLU));                 // dropout = identity
    h = ops::add(skip_ ? skip_->forward(x) : x, h);                                  // skip(x) + h
    if (temporal_) h = unet::to_frames(temporal_->forward(unet::to_video(h, batch_size)));
    return h;
}

// ---------------------------------------------------------------------------------------------- resampling

UNetDownsample::UNetDownsample(int64_t ch, int64_t out_ch) : channels(ch) {
    op = &child<Conv2d>("op", ch, out_ch, 3, 2, 1);
}

Tensor UNetDownsample::forward(const Tensor& x) const {
    TC_CHECK(x.dim() == 4 && x.size(1) == channels, "UNetDownsample(", channels, "): input ", x.describe());
    return op->forward(x);
}

UNetUpsample::UNetUpsample(int64_t ch, int64_t out_ch) : channels(ch) {
    conv = &child<Conv2d>("conv", ch, out_ch, 3, 1, 1);
}

Tensor UNetUpsample::forward(const Tensor& x) const {
    TC_CHECK(x.dim() == 4 && x.size(1) == channels, "UNetUpsample(", channels, "): input ", x.describe());
    return conv->forward(ops::upsample_nearest2x(x));  // F.interpolate(scale_factor=2, mode='nearest')
}

}  // namespace tc
