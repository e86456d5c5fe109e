// AutoencoderKL_Dualref: encoder + quant_conv + posterior moments, and the dual-reference decode.
#include "models/vae.h"

namespace tc {

VAE::VAE(const VAEConfig& cfg) : cfg_(cfg) {
    TC_CHECK(cfg.double_z, "VAE: AutoencoderKL requires ddconfig.double_z (the official code asserts it)");
    encoder = &child<VAEEncoder>("encoder", cfg);
    decoder = &child<VAEDecoder>("decoder", cfg);
    quant_conv = &child<Conv2d>("quant_conv", 2 * cfg.z_channels, 2 * cfg.embed_dim, 1);
    post_quant_conv = &child<Conv2d>("post_quant_conv", cfg.embed_dim, cfg.z_channels, 1);
    post_quant_conv->weight->used = false;
    post_quant_conv->bias->used = false;
}

VAE::Encoded VAE::encode(const Tensor& x) const {
    TC_CHECK(x.dim() == 4 && x.size(1) == cfg_.in_channels, "VAE::encode: expected x [N, ", cfg_.in_channels,
             ", H, W], got ", x.describe());
    VAEEncoder::Output enc = encoder->forward(x);
    Encoded out;
    out.moments = quant_conv->forward(enc.h);  // [N, 2*embed_dim, h, w]
    // lvdm/distributions.py DiagonalGaussianDistribution: mean, logvar = chunk(moments, 2, dim=1);
    // logvar = clamp(logvar, -30, 20).
    const int64_t e = cfg_.embed_dim;
    out.mean = ops::contiguous(out.moments.slice(1, 0, e));
    out.logvar = ops::clamp(out.moments.slice(1, e, 2 * e), -30.f, 20.f);
    out.hidden = std::move(enc.hidden);
    return out;
}

Tensor VAE::decode(const Tensor& z, const std::vector<Tensor>& ref_context, int64_t timesteps) const {
    TC_CHECK(z.dim() == 4 && z.size(1) == cfg_.z_channels, "VAE::decode: expected z [T, ", cfg_.z_channels,
             ", h, w], got ", z.describe());
    return decoder->forward(z, ref_context, timesteps);
}

std::vector<Tensor> vae_ref_context(const std::vector<Tensor>& hidden, int64_t first, int64_t last) {
    std::vector<Tensor> out;
    out.reserve(hidden.size());
    for (const Tensor& h : hidden) {
        TC_CHECK(h.dim() == 4, "vae_ref_context: hidden state must be [N, C, h, w], got ", h.describe());
        TC_CHECK(first >= 0 && first < h.size(0) && last >= 0 && last < h.size(0), "vae_ref_context: frames ",
                 first, " and ", last, " out of range for ", h.describe());
        // [2, C, h, w] -> [C, 2, h, w] -> [1, C, 2, h, w]
        const Tensor two = ops::concat({h.slice(0, first, first + 1), h.slice(0, last, last + 1)}, 0);
        out.push_back(ops::contiguous(two.permute({1, 0, 2, 3})).unsqueeze(0));
    }
    return out;
}

std::vector<Tensor> vae_ref_context(const std::vector<Tensor>& hidden_first, const std::vector<Tensor>& hidden_last) {
    TC_CHECK(hidden_first.size() == hidden_last.size(), "vae_ref_context: ", hidden_first.size(), " vs ",
             hidden_last.size(), " hidden states");
    std::vector<Tensor> out;
    out.reserve(hidden_first.size());
    for (size_t i = 0; i < hidden_first.size(); ++i) {
        const Tensor& a = hidden_first[i];
        const Tensor& b = hidden_last[i];
        TC_CHECK(a.dim() == 4 && a.size(0) == 1 && a.shape() == b.shape(),
                 "vae_ref_context: hidden states must be [1, C, h, w] and alike, got ", a.describe(), " and ",
                 b.describe());
        const Tensor two = ops::concat({a, b}, 0);  // [2, C, h, w]
        out.push_back(ops::contiguous(two.permute({1, 0, 2, 3})).unsqueeze(0));
    }
    return out;
}

}  // namespace tc
