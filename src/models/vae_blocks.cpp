// The autoencoder's building blocks over core/ops (see vae_blocks.h for what each ports).
#include "models/vae_blocks.h"

#include <cmath>

namespace tc {

// ---------------------------------------------------------------- layout helpers
Tensor frames_to_video(const Tensor& x, int64_t timesteps) {
    TC_CHECK(x.dim() == 4, "frames_to_video: expected [B*T, C, h, w], got ", x.describe());
    TC_CHECK(timesteps > 0 && x.size(0) % timesteps == 0, "frames_to_video: ", x.size(0),
             " frames are not a multiple of timesteps ", timesteps);
    const int64_t b = x.size(0) / timesteps;
    // [B*T, C, h, w] -> [B, T, C, h, w] -> [B, C, T, h, w]
    return x.reshape({b, timesteps, x.size(1), x.size(2), x.size(3)}).permute({0, 2, 1, 3, 4});
}

Tensor video_to_frames(const Tensor& x) {
    TC_CHECK(x.dim() == 5, "video_to_frames: expected [B, C, T, h, w], got ", x.describe());
    // [B, C, T, h, w] -> [B, T, C, h, w] -> [B*T, C, h, w]
    Tensor t = ops::contiguous(x.permute({0, 2, 1, 3, 4}));
    return t.view({x.size(0) * x.size(2), x.size(1), x.size(3), x.size(4)});
}

// ---------------------------------------------------------------- ResnetBlock
ResnetBlock::ResnetBlock(int64_t in, int64_t out) : in_channels(in), out_channels(out) {
    norm1 = &child<GroupNorm>("norm1", kVaeGroups, in, kVaeNormEps);
    conv1 = &child<Conv2d>("conv1", in, out, 3, 1, 1);
    norm2 = &child<GroupNorm>("norm2", kVaeGroups, out, kVaeNormEps);
    conv2 = &child<Conv2d>("conv2", out, out, 3, 1, 1);
    if (in != out) nin_shortcut = &child<Conv2d>("nin_shortcut", in, out, 1, 1, 0);
}

Tensor ResnetBlock::forward(const Tensor& x) const {
    Tensor h = conv1->forward(norm1->forward(x, Activation::SiLU));  // [N, out, h, w]
    h = conv2->forward(norm2->forward(h, Activation::SiLU));
    const Tensor skip = nin_shortcut ? nin_shortcut->forward(x) : x;
    return ops::add(skip, h);
}

// ---------------------------------------------------------------- AttnBlock
AttnBlock::AttnBlock(int64_t c) : channels(c) {
    norm = &child<GroupNorm>("norm", kVaeGroups, c, kVaeNormEps);
    q = &child<Conv2d>("q", c, c, 1);
    k = &child<Conv2d>("k", c, c, 1);
    v = &child<Conv2d>("v", c, c, 1);
    proj_out = &child<Conv2d>("proj_out", c, c, 1);
}

Tensor AttnBlock::forward(const Tensor& x) const {
    TC_CHECK(x.dim() == 4 && x.size(1) == channels, "AttnBlock(", channels, "): input ", x.describe());
    const int64_t n = x.size(0), c = channels, hh = x.size(2), ww = x.size(3);
    const Tensor hn = norm->forward(x);
    // "b c h w -> b 1 (h w) c": one head whose width is the channel count.
    auto tokens = [&](const Tensor& t) { return t.view({n, c, hh * ww}).transpose(1, 2).unsqueeze(1); };
    const Tensor qt = tokens(q->forward(hn)), kt = tokens(k->forward(hn)), vt = tokens(v->forward(hn));
    Tensor a = ops::attention(qt, kt, vt, nullptr, 1.0f / std::sqrt(float(c)));  // [N, 1, h*w, C]
    a = ops::contiguous(a.squeeze(1).transpose(1, 2)).view({n, c, hh, ww});
    return ops::add(x, proj_out->forward(a));
}

// ---------------------------------------------------------------- Downsample / Upsample
Downsample::Downsample(int64_t c) { conv = &child<Conv2d>("conv", c, c, 3, 2, 0); }

Tensor Downsample::forward(const Tensor& x) const {
    // torch pad (0,1,0,1) = right and bottom only; Conv2dParams pads are (top, bottom, left, right).
    Conv2dParams p;
    p.stride = {2, 2};
    p.pad = {0, 1, 0, 1};
    return conv->forward(x, p);
}

Upsample::Upsample(int64_t c) { conv = &child<Conv2d>("conv", c, c, 3, 1, 1); }

Tensor Upsample::forward(const Tensor& x) const { return conv->forward(ops::upsample_nearest2x(x)); }

// ---------------------------------------------------------------- TimeStackResBlock
TimeStackResBlock::TimeStackResBlock(int64_t c) : channels(c) {
    constexpr float kEps = 1e-5f;  // lvdm/basics.py normalization() -> GroupNorm default eps
    auto& in_layers = child<ModuleList>("in_layers");
    in_norm = &in_layers.add<GroupNorm>(kVaeGroups, c, kEps);
    in_layers.skip();  // 1: SiLU
    in_conv = &in_layers.add<Conv3d>(c, c, std::array<int64_t, 3>{3, 1, 1}, std::array<int64_t, 3>{1, 0, 0});
    auto& out_layers = child<ModuleList>("out_layers");
    out_norm = &out_layers.add<GroupNorm>(kVaeGroups, c, kEps);
    out_layers.skip();  // 1: SiLU
    out_layers.skip();  // 2: Dropout
    out_conv = &out_layers.add<Conv3d>(c, c, std::array<int64_t, 3>{3, 1, 1}, std::array<int64_t, 3>{1, 0, 0});
}

Tensor TimeStackResBlock::forward(const Tensor& x) const {
    TC_CHECK(x.dim() == 5 && x.size(1) == channels, "time_stack(", channels, "): input ", x.describe());
    Tensor h = in_conv->forward(in_norm->forward(x, Activation::SiLU));  // [B, C, T, h, w]
    h = out_conv->forward(out_norm->forward(h, Activation::SiLU));
    return ops::add(x, h);  // skip_connection is the identity (same channels)
}

// ---------------------------------------------------------------- VideoResBlock
VideoResBlock::VideoResBlock(int64_t in, int64_t out) : ResnetBlock(in, out) {
    time_stack = &child<TimeStackResBlock>("time_stack", out);
    mix_factor = &param("mix_factor", {1});
}

Tensor VideoResBlock::forward(const Tensor& x, int64_t timesteps) const {
    const Tensor spatial = ResnetBlock::forward(x);               // [B*T, out, h, w]
    const Tensor spatial_v = frames_to_video(spatial, timesteps);  // [B, out, T, h, w]
    const Tensor temporal = time_stack->forward(spatial_v);        // [B, out, T, h, w]
    // alpha = sigmoid(mix_factor), computed as torch does on the float32 parameter.
    const float m = weight_of(*mix_factor, "VideoResBlock.mix_factor").to(Device::CPU).item();
    const float alpha = 1.0f / (1.0f + std::exp(-m));
    const Tensor mixed = ops::add(ops::scale(temporal, alpha), ops::scale(spatial_v, 1.0f - alpha));
    return video_to_frames(mixed);
}

// ---------------------------------------------------------------- Combiner
Combiner::Combiner(int64_t c) { conv = &child<Conv2d>("conv", c, c, 1); }

Tensor Combiner::forward(const Tensor& x, const Tensor& context) const {
    TC_CHECK(context.dim() == 5 && context.size(2) == 2, "Combiner: context must be [B, C, 2, h, w], got ",
             context.describe());
    TC_CHECK(x.dim() == 4 && x.size(1) == context.size(1) && x.size(2) == context.size(3) &&
                 x.size(3) == context.size(4),
             "Combiner: frames ", x.describe(), " do not match context ", context.describe());
    const int64_t b = context.size(0), c = x.size(1), hh = x.size(2), ww = x.size(3);
    TC_CHECK(x.size(0) % b == 0, "Combiner: ", x.size(0), " frames for a context batch of ", b);
    const int64_t t = x.size(0) / b;
    // "b c l h w -> (b l) c h w", 1x1 conv, back to [B, 2, C, h, w].
    const Tensor ctx = conv->forward(ops::contiguous(context.permute({0, 2, 1, 3, 4})).view({b * 2, c, hh, ww}))
                           .view({b, 2, c, hh, ww});
    const Tensor xv = x.reshape({b, t, c, hh, ww});
    // x[:, :, 0] += ctx[:, :, 0]; x[:, :, -1] += ctx[:, :, 1] (in that order, so T = 1 gets both).
    Tensor first = ops::add(xv.slice(1, 0, 1), ctx.slice(1, 0, 1));  // [B, 1, C, h, w]
    if (t == 1) return ops::add(first, ctx.slice(1, 1, 2)).view({b, c, hh, ww});
    Tensor last = ops::add(xv.slice(1, t - 1, t), ctx.slice(1, 1, 2));
    std::vector<Tensor> parts{first};
    if (t > 2) parts.push_back(xv.slice(1, 1, t - 1));
    parts.push_back(last);
    return ops::concat(parts, 1).view({b * t, c, hh, ww});
}

// ---------------------------------------------------------------- FusionCrossAttention
FusionCrossAttention::FusionCrossAttention(int64_t qd, int64_t h, int64_t dh)
    : query_dim(qd), heads(h), dim_head(dh) {
    const int64_t inner = h * dh;
    to_q = &child<Linear>("to_q", qd, inner, false);
    to_k = &child<Linear>("to_k", qd, inner, false);  // context_dim defaults to query_dim
    to_v = &child<Linear>("to_v", qd, inner, false);
    auto& out = child<ModuleList>("to_out");
    to_out = &out.add<Linear>(inner, qd, true);
    out.skip();  // 1: Dropout
    norm = &child<GroupNorm>("norm", kVaeGroups, qd, kVaeNormEps);
}

Tensor FusionCrossAttention::forward(const Tensor& x, const Tensor& context) const {
    TC_CHECK(x.dim() == 4 && x.size(1) == query_dim, "FusionCrossAttention(", query_dim, "): input ",
             x.describe());
    TC_CHECK(context.dim() == 5 && context.size(1) == query_dim && context.size(2) == 2,
             "FusionCrossAttention: context must be [B, ", query_dim, ", 2, h, w], got ", context.describe());
    const int64_t bt = x.size(0), c = query_dim, hh = x.size(2), ww = x.size(3), l = hh * ww;
    const int64_t b = context.size(0), lk = 2 * context.size(3) * context.size(4);
    TC_CHECK(bt % b == 0, "FusionCrossAttention: ", bt, " frames for a context batch of ", b);
    const int64_t t = bt / b;

    // q from the normalised frames: "b c h w -> b (h w) c", to_q.
    const Tensor hn = norm->forward(x);
    const Tensor q = to_q->forward(hn.view({bt, c, l}).transpose(1, 2));  // [B*T, h*w, H*D]

    // k, v from the raw reference maps: "b c l h w -> b (l h w) c" puts the 2 maps' tokens one after the
    // other, which is the official per-frame concat [k(frame 0) ; k(frame T-1)] along the tokens.
    const Tensor ctx = ops::contiguous(context.permute({0, 2, 3, 4, 1})).view({b, lk, c});
    const Tensor k = to_k->forward(ctx), v = to_v->forward(ctx);  // [B, 2*h*w, H*D]

    // Every frame of a batch item attends to the same keys, so the T frames' queries are folded into one
    // query sequence per batch item: [B*T, L, H, D] -> [B, H, T*L, D]. Row by row this is the same softmax.
    const Tensor qh =
        ops::contiguous(q.view({b, t, l, heads, dim_head}).permute({0, 3, 1, 2, 4})).view({b, heads, t * l, dim_head});
    const Tensor kh = k.view({b, lk, heads, dim_head}).permute({0, 2, 1, 3});
    const Tensor vh = v.view({b, lk, heads, dim_head}).permute({0, 2, 1, 3});
    Tensor o = ops::attention(qh, kh, vh, nullptr, 1.0f / std::sqrt(float(dim_head)));  // [B, H, T*L, D]
    // [B, H, T, L, D] -> [B, T, L, H, D] -> [B*T, L, H*D]
    o = ops::contiguous(o.view({b, heads, t, l, dim_head}).permute({0, 2, 3, 1, 4})).view({bt, l, heads * dim_head});
    Tensor out = to_out->forward(o);                                    // [B*T, h*w, C]
    out = ops::contiguous(out.transpose(1, 2)).view({bt, c, hh, ww});  // "bt (h w) c -> bt c h w"
    return ops::add(x, out);
}

// ---------------------------------------------------------------- AE3DConv
AE3DConv::AE3DConv(int64_t in, int64_t out) : in_channels(in), out_channels(out) {
    weight = &param("weight", {out, in, 3, 3});
    bias = &param("bias", {out});
    time_mix_conv =
        &child<Conv3d>("time_mix_conv", out, out, std::array<int64_t, 3>{3, 1, 1}, std::array<int64_t, 3>{1, 0, 0});
}

Tensor AE3DConv::forward(const Tensor& x, int64_t timesteps) const {
    TC_CHECK(x.dim() == 4 && x.size(1) == in_channels, "AE3DConv(", in_channels, "->", out_channels, "): input ",
             x.describe());
    const Tensor& b = weight_of(*bias, "AE3DConv bias");
    const Tensor h = ops::conv2d(x, weight_of(*weight, "AE3DConv"), &b, Conv2dParams::same(3));  // [B*T, out, H, W]
    return video_to_frames(time_mix_conv->forward(frames_to_video(h, timesteps)));
}

}  // namespace tc
