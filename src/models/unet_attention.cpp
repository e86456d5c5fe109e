// Attention layers of the video UNet (lvdm/modules/attention.py in Doubiiu/ToonCrafter).
#include "models/unet_attention.h"

#include <cmath>

namespace tc {

namespace {
// 'b n (h d) -> b h n d' as a view: [N, L, H*D] -> [N, H, L, D].
Tensor split_heads(const Tensor& t, int64_t heads) {
    const int64_t N = t.size(0), L = t.size(1), D = t.size(2) / heads;
    return t.view({N, L, heads, D}).permute({0, 2, 1, 3});
}
// 'b h n d -> b n (h d)': [N, H, L, D] -> [N, L, H*D] (contiguous).
Tensor merge_heads(const Tensor& t) {
    const int64_t N = t.size(0), H = t.size(1), L = t.size(2), D = t.size(3);
    return ops::contiguous(t.permute({0, 2, 1, 3})).view({N, L, H * D});
}
}  // namespace

// ---------------------------------------------------------------------------------------------- CrossAttention

CrossAttention::CrossAttention(int64_t qd, int64_t cd, int64_t h, int64_t dh, bool image_ca, int64_t text_len)
    : query_dim(qd), context_dim(cd > 0 ? cd : qd), heads(h), dim_head(dh), image_cross_attention(image_ca),
      text_context_len(text_len) {
    const int64_t inner = heads * dim_head;
    to_q_ = &child<Linear>("to_q", query_dim, inner, false);
    to_k_ = &child<Linear>("to_k", context_dim, inner, false);
    to_v_ = &child<Linear>("to_v", context_dim, inner, false);
    auto& to_out = child<ModuleList>("to_out");
    to_out_ = &to_out.add<Linear>(inner, query_dim);
    to_out.skip();  // nn.Dropout
    if (image_cross_attention) {
        to_k_ip_ = &child<Linear>("to_k_ip", context_dim, inner, false);
        to_v_ip_ = &child<Linear>("to_v_ip", context_dim, inner, false);
    }
}

Tensor CrossAttention::forward(const Tensor& x, const Tensor* context) const {
    TC_CHECK(x.dim() == 3 && x.size(2) == query_dim, "CrossAttention(", query_dim, "): input ", x.describe());
    const float scale = 1.0f / std::sqrt(float(dim_head));  // self.scale = dim_head ** -0.5
    Tensor q = split_heads(to_q_->forward(x), heads);         // [N, H, Lq, D]

    if (!context) {  // self-attention: context defaults to x
        Tensor k = split_heads(to_k_->forward(x), heads), v = split_heads(to_v_->forward(x), heads);
        return to_out_->forward(merge_heads(ops::attention(q, k, v, nullptr, scale)));
    }

    TC_CHECK(context->dim() == 3 && context->size(0) == x.size(0) && context->size(2) == context_dim,
             "CrossAttention: context ", context->describe(), " for input ", x.describe(), " (context_dim ",
             context_dim, ")");
    const int64_t L = context->size(1);
    // context[:, :text_context_len] (a no-op when shorter, as in Python slicing)
    Tensor text = context->slice(1, 0, std::min(L, text_context_len));
    Tensor k = split_heads(to_k_->forward(text), heads), v = split_heads(to_v_->forward(text), heads);
    Tensor out = ops::attention(q, k, v, nullptr, scale);  // [N, H, Lq, D]
    if (image_cross_attention) {
        // context[:, text_context_len:] holds the image tokens (16 per frame in ToonCrafter).
        TC_CHECK(L > text_context_len, "CrossAttention: image cross-attention needs more than ", text_context_len,
                 " context tokens (text then image), got ", L);
        Tensor image = context->slice(1, text_context_len, L);
        Tensor k_ip = split_heads(to_k_ip_->forward(image), heads);
        Tensor v_ip = split_heads(to_v_ip_->forward(image), heads);
        // out + image_cross_attention_scale * out_ip with the scale fixed at 1.0
        out = ops::add(out, ops::attention(q, k_ip, v_ip, nullptr, scale));
    }
    return to_out_->forward(merge_heads(out));  // [N, Lq, query_dim]
}

// ---------------------------------------------------------------------------------------------- FeedForward

GEGLU::GEGLU(int64_t dim_in, int64_t dim_out) { proj = &child<Linear>("proj", dim_in, 2 * dim_out); }

Tensor GEGLU::forward(const Tensor& x) const {
    return ops::geglu(proj->forward(x));  // x, gate = proj(x).chunk(2, -1); x * gelu(gate)
}

FeedForward::FeedForward(int64_t dim, int64_t mult) {
    auto& net = child<ModuleList>("net");
    project_in_ = &net.add<GEGLU>(dim, dim * mult);
    net.skip();  // nn.Dropout
    project_out_ = &net.add<Linear>(dim * mult, dim);
}

Tensor FeedForward::forward(const Tensor& x) const { return project_out_->forward(project_in_->forward(x)); }

// ---------------------------------------------------------------------------------------------- BasicTransformerBlock

BasicTransformerBlock::BasicTransformerBlock(int64_t dim, int64_t heads, int64_t dim_head, int64_t context_dim,
                                             bool image_cross_attention) {
    attn1_ = &child<CrossAttention>("attn1", dim, 0, heads, dim_head);
    ff_ = &child<FeedForward>("ff", dim);
    attn2_ = &child<CrossAttention>("attn2", dim, context_dim, heads, dim_head, image_cross_attention);
    norm1_ = &child<LayerNorm>("norm1", dim, 1e-5f);
    norm2_ = &child<LayerNorm>("norm2", dim, 1e-5f);
    norm3_ = &child<LayerNorm>("norm3", dim, 1e-5f);
}

Tensor BasicTransformerBlock::forward(const Tensor& x, const Tensor* context) const {
    Tensor h = ops::add(attn1_->forward(norm1_->forward(x), nullptr), x);  // self-attention
    h = ops::add(attn2_->forward(norm2_->forward(h), context), h);         // cross (or second self) attention
    return ops::add(ff_->forward(norm3_->forward(h)), h);
}

// ---------------------------------------------------------------------------------------------- ChannelProjection

ChannelProjection::ChannelProjection(int64_t in_, int64_t out_, int64_t kernel_dims) : in(in_), out(out_) {
    TC_CHECK(kernel_dims >= 0 && kernel_dims <= 2, "ChannelProjection: kernel_dims ", kernel_dims);
    Shape shape{out, in};
    for (int64_t i = 0; i < kernel_dims; ++i) shape.push_back(1);
    weight_ = &param("weight", shape);
    bias_ = &param("bias", {out});
}

Tensor ChannelProjection::forward(const Tensor& x) const {
    TC_CHECK(x.size(-1) == in, "ChannelProjection(", in, "->", out, "): input ", x.describe());
    const Tensor& w = weight_of(*weight_, "proj weight");
    return ops::linear(x, w.dim() == 2 ? w : w.reshape({out, in}), &weight_of(*bias_, "proj bias"));
}

// ---------------------------------------------------------------------------------------------- SpatialTransformer

SpatialTransformer::SpatialTransformer(int64_t ch, int64_t heads, int64_t dim_head, int64_t depth, int64_t context_dim,
                                       bool use_linear, bool image_cross_attention)
    : in_channels(ch), inner_dim(heads * dim_head) {
    norm_ = &child<GroupNorm>("norm", 32, ch, 1e-6f);
    proj_in_ = &child<ChannelProjection>("proj_in", ch, inner_dim, use_linear ? 0 : 2);
    auto& blocks = child<ModuleList>("transformer_blocks");
    for (int64_t d = 0; d < depth; ++d)
        blocks_.push_back(&blocks.add<BasicTransformerBlock>(inner_dim, heads, dim_head, context_dim,
                                                             image_cross_attention));
    proj_out_ = &child<ChannelProjection>("proj_out", inner_dim, ch, use_linear ? 0 : 2);
}

Tensor SpatialTransformer::forward(const Tensor& x, const Tensor& context) const {
    TC_CHECK(x.dim() == 4 && x.size(1) == in_channels, "SpatialTransformer(", in_channels, "): input ", x.describe());
    const int64_t N = x.size(0), C = in_channels, H = x.size(2), W = x.size(3);
    Tensor h = norm_->forward(x).view({N, C, H * W}).permute({0, 2, 1});  // 'b c h w -> b (h w) c'
    h = proj_in_->forward(h);                                             // [N, hw, inner]
    for (const auto* block : blocks_) h = block->forward(h, &context);
    h = proj_out_->forward(h);                                            // [N, hw, C]
    // 'b (h w) c -> b c h w', plus the input
    return ops::add(h.permute({0, 2, 1}), x.reshape({N, C, H * W})).view({N, C, H, W});
}

// ---------------------------------------------------------------------------------------------- TemporalTransformer

TemporalTransformer::TemporalTransformer(int64_t ch, int64_t heads, int64_t dim_head, int64_t depth, bool use_linear)
    : in_channels(ch), inner_dim(heads * dim_head) {
    norm_ = &child<GroupNorm>("norm", 32, ch, 1e-6f);
    proj_in_ = &child<ChannelProjection>("proj_in", ch, inner_dim, use_linear ? 0 : 1);  // Linear or Conv1d
    auto& blocks = child<ModuleList>("transformer_blocks");
    // only_self_att: context_dim=None, so attn2 is a second self-attention without an image branch
    for (int64_t d = 0; d < depth; ++d)
        blocks_.push_back(&blocks.add<BasicTransformerBlock>(inner_dim, heads, dim_head, 0, false));
    proj_out_ = &child<ChannelProjection>("proj_out", inner_dim, ch, use_linear ? 0 : 1);
}

Tensor TemporalTransformer::forward(const Tensor& x, int64_t batch_size) const {
    TC_CHECK(x.dim() == 4 && x.size(1) == in_channels && batch_size > 0 && x.size(0) % batch_size == 0,
             "TemporalTransformer(", in_channels, "): input ", x.describe(), " for batch ", batch_size);
    const int64_t B = batch_size, T = x.size(0) / B, C = in_channels, H = x.size(2), W = x.size(3);
    Tensor frames = x.reshape({B, T, C, H, W});
    // GroupNorm over the video layout [B, C, T, h, w]: each group spans its channels of every frame.
    Tensor h = norm_->forward(frames.permute({0, 2, 1, 3, 4}));                           // [B, C, T, h, w]
    h = ops::contiguous(h.permute({0, 3, 4, 2, 1})).view({B * H * W, T, C});             // 'b c t h w -> (b h w) t c'
    h = proj_in_->forward(h);                                                             // [BHW, T, inner]
    for (const auto* block : blocks_) h = block->forward(h, nullptr);                     // no mask
    h = proj_out_->forward(h);                                                            // [BHW, T, C]
    // back to per-frame '(b t) c h w' and add the input
    Tensor out = h.view({B, H, W, T, C}).permute({0, 3, 4, 1, 2});                        // [B, T, C, h, w]
    return ops::add(out, frames).view({B * T, C, H, W});
}

}  // namespace tc
