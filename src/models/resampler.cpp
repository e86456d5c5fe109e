// lvdm/modules/encoders/resampler.py (ToonCrafter): PerceiverAttention, FeedForward, Resampler.
#include "models/resampler.h"

#include <cmath>

namespace tc {

// ---------------------------------------------------------------------------------------------- attention

PerceiverAttention::PerceiverAttention(int64_t d, int64_t dh, int64_t h) : dim(d), dim_head(dh), heads(h) {
    const int64_t inner = dim_head * heads;
    norm1 = &child<LayerNorm>("norm1", dim, 1e-5f);
    norm2 = &child<LayerNorm>("norm2", dim, 1e-5f);
    to_q = &child<Linear>("to_q", dim, inner, /*bias=*/false);
    to_kv = &child<Linear>("to_kv", dim, 2 * inner, /*bias=*/false);
    to_out = &child<Linear>("to_out", inner, dim, /*bias=*/false);
}

Tensor PerceiverAttention::forward(const Tensor& x_in, const Tensor& latents_in) const {
    const int64_t B = latents_in.size(0), Q = latents_in.size(1), N = x_in.size(1), inner = dim_head * heads;
    Tensor x = norm1->forward(x_in);              // [B, N, dim]
    Tensor latents = norm2->forward(latents_in);  // [B, Q, dim]
    Tensor q = to_q->forward(latents);            // [B, Q, inner]
    Tensor kv_input = ops::concat({x, latents}, 1);  // [B, N+Q, dim]
    Tensor kv = to_kv->forward(kv_input);            // [B, N+Q, 2*inner]; chunk(2, -1) -> k, v
    const int64_t L = N + Q;
    // reshape_tensor: [B, L, H*D] -> [B, H, L, D]
    Tensor qh = q.view({B, Q, heads, dim_head}).permute({0, 2, 1, 3});
    Tensor kvh = kv.view({B, L, 2, heads, dim_head}).permute({2, 0, 3, 1, 4});  // [2, B, H, L, D]
    // The official code scales q and k each by dim_head^-0.25; the product is the usual dim_head^-0.5.
    Tensor o = ops::attention(qh, kvh.select(0, 0), kvh.select(0, 1), nullptr,
                              1.0f / std::sqrt(float(dim_head)));  // [B, H, Q, D]
    o = o.permute({0, 2, 1, 3}).reshape({B, Q, inner});          // [B, Q, inner]
    return to_out->forward(o);                                    // [B, Q, dim]
}

// ---------------------------------------------------------------------------------------------- feed-forward

ResamplerFeedForward::ResamplerFeedForward(int64_t dim, int64_t mult) {
    const int64_t inner = dim * mult;
    add<LayerNorm>(dim, 1e-5f);                  // 0
    add<Linear>(dim, inner, /*bias=*/false);     // 1
    skip();                                      // 2: nn.GELU
    add<Linear>(inner, dim, /*bias=*/false);     // 3
}

Tensor ResamplerFeedForward::forward(const Tensor& x) const {
    Tensor h = at<LayerNorm>(0).forward(x);
    h = at<Linear>(1).forward(h, Activation::GELU);  // nn.GELU(): exact erf form
    return at<Linear>(3).forward(h);
}

// ---------------------------------------------------------------------------------------------- resampler

Resampler::Resampler(const ResamplerConfig& c) : cfg(c) {
    TC_CHECK(cfg.num_queries > 0 && cfg.video_length > 0 && cfg.dim > 0 && cfg.depth >= 0,
             "Resampler: invalid config (num_queries ", cfg.num_queries, ", video_length ", cfg.video_length,
             ", dim ", cfg.dim, ", depth ", cfg.depth, ")");
    queries = int64_t(cfg.num_queries) * cfg.video_length;
    latents = &param("latents", {1, queries, int64_t(cfg.dim)});
    proj_in = &child<Linear>("proj_in", cfg.embedding_dim, cfg.dim);
    proj_out = &child<Linear>("proj_out", cfg.dim, cfg.output_dim);
    norm_out = &child<LayerNorm>("norm_out", cfg.output_dim, 1e-5f);
    layers = &child<ModuleList>("layers");
    for (int i = 0; i < cfg.depth; ++i) {
        ModuleList& layer = layers->add<ModuleList>();
        layer.add<PerceiverAttention>(cfg.dim, cfg.dim_head, cfg.heads);
        layer.add<ResamplerFeedForward>(cfg.dim, cfg.ff_mult);
    }
}

Tensor Resampler::forward(const Tensor& image_tokens) const {
    TC_CHECK(image_tokens.dim() == 3 && image_tokens.size(2) == cfg.embedding_dim, "Resampler: expected [B, N, ",
             cfg.embedding_dim, "], got ", image_tokens.describe());
    const int64_t B = image_tokens.size(0);
    // latents.repeat(B, 1, 1)
    const Tensor& lat = weight_of(*latents, "latents");
    Tensor h = B == 1 ? lat : ops::concat(std::vector<Tensor>(size_t(B), lat), 0);  // [B, Q, dim]
    Tensor x = proj_in->forward(image_tokens);                                     // [B, N, dim]
    for (size_t i = 0; i < layers->size(); ++i) {
        const ModuleList& layer = layers->at<ModuleList>(i);
        h = ops::add(layer.at<PerceiverAttention>(0).forward(x, h), h);  // latents = attn(x, latents) + latents
        h = ops::add(layer.at<ResamplerFeedForward>(1).forward(h), h);   // latents = ff(latents) + latents
    }
    h = proj_out->forward(h);     // [B, Q, output_dim]
    return norm_out->forward(h);  // [B, Q, output_dim]
}

}  // namespace tc
