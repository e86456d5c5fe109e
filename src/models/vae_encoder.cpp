// ae_modules.py Encoder.forward(x, return_hidden_states=True) over core/ops.
#include "models/vae_encoder.h"

#include <algorithm>

namespace tc {

VAEEncoderLevel::VAEEncoderLevel(int64_t block_in, int64_t block_out, int num_res_blocks, bool with_attn,
                                 bool with_downsample) {
    block = &child<ModuleList>("block");
    attn = &child<ModuleList>("attn");
    for (int i = 0; i < num_res_blocks; ++i) {
        block->add<ResnetBlock>(block_in, block_out);
        block_in = block_out;
        if (with_attn) attn->add<AttnBlock>(block_out);
    }
    if (with_downsample) downsample = &child<Downsample>("downsample", block_out);
}

VAEEncoder::VAEEncoder(const VAEConfig& cfg)
    : num_resolutions(int(cfg.ch_mult.size())), num_res_blocks(cfg.num_res_blocks) {
    TC_CHECK(num_resolutions > 0 && num_res_blocks > 0, "VAE encoder: empty ch_mult or num_res_blocks");
    conv_in = &child<Conv2d>("conv_in", cfg.in_channels, cfg.ch, 3, 1, 1);
    down = &child<ModuleList>("down");
    int64_t block_in = cfg.ch;
    int64_t curr_res = cfg.resolution;
    for (int level = 0; level < num_resolutions; ++level) {
        // in_ch_mult = (1,) + ch_mult: level l goes from ch*in_ch_mult[l] to ch*ch_mult[l].
        block_in = int64_t(cfg.ch) * (level == 0 ? 1 : cfg.ch_mult[size_t(level - 1)]);
        const int64_t block_out = int64_t(cfg.ch) * cfg.ch_mult[size_t(level)];
        const bool with_attn = std::find(cfg.attn_resolutions.begin(), cfg.attn_resolutions.end(), curr_res) !=
                               cfg.attn_resolutions.end();
        const bool with_down = level != num_resolutions - 1;
        down->add<VAEEncoderLevel>(block_in, block_out, num_res_blocks, with_attn, with_down);
        block_in = block_out;
        if (with_down) curr_res /= 2;
    }
    mid = &child<VAEMid<ResnetBlock>>("mid", block_in);
    norm_out = &child<GroupNorm>("norm_out", kVaeGroups, block_in, kVaeNormEps);
    conv_out = &child<Conv2d>("conv_out", block_in, cfg.double_z ? 2 * cfg.z_channels : cfg.z_channels, 3, 1, 1);
}

VAEEncoder::Output VAEEncoder::forward(const Tensor& x) const {
    TC_CHECK(x.dim() == 4 && x.size(1) == conv_in->in, "VAE encoder: expected [N, ", conv_in->in,
             ", H, W], got ", x.describe());
    Output out;
    const Tensor first = conv_in->forward(x);  // [N, ch, H, W]
    Tensor h = first;
    for (int level = 0; level < num_resolutions; ++level) {
        const auto& lv = down->at<VAEEncoderLevel>(size_t(level));
        for (int i = 0; i < num_res_blocks; ++i) {
            h = lv.block->at<ResnetBlock>(size_t(i)).forward(h);
            if (lv.attn->size() > 0) h = lv.attn->at<AttnBlock>(size_t(i)).forward(h);
        }
        out.hidden.push_back(h);  // the level's features before downsampling
        if (lv.downsample) h = lv.downsample->forward(h);
    }
    out.hidden.push_back(first);  // hs[0], the conv_in output, comes last

    h = mid->block_1->forward(h);
    h = mid->attn_1->forward(h);
    h = mid->block_2->forward(h);

    h = norm_out->forward(h, Activation::SiLU);
    out.h = conv_out->forward(h);
    return out;
}

}  // namespace tc
