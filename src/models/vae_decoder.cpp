// autoencoder_dualref.py Decoder.forward(z, ref_context=..., timesteps=T) with the VideoDecoder blocks.
#include "models/vae_decoder.h"

#include <algorithm>

namespace tc {

namespace {
// Decoder(attn_level=[2, 3]): the levels refined by fusion attention; fixed in code, not in the config.
constexpr int kFusionLevels[] = {2, 3};
}  // namespace

VAEDecoderLevel::VAEDecoderLevel(int64_t block_in, int64_t block_out, int num_blocks, bool with_attn,
                                 bool with_upsample) {
    block = &child<ModuleList>("block");
    attn = &child<ModuleList>("attn");
    for (int i = 0; i < num_blocks; ++i) {
        block->add<VideoResBlock>(block_in, block_out);
        block_in = block_out;
        if (with_attn) attn->add<AttnBlock>(block_out);
    }
    if (with_upsample) upsample = &child<Upsample>("upsample", block_out);
}

bool VAEDecoder::is_fusion_level(int level) const {
    return std::find(std::begin(kFusionLevels), std::end(kFusionLevels), level) != std::end(kFusionLevels);
}

VAEDecoder::VAEDecoder(const VAEConfig& cfg)
    : num_resolutions(int(cfg.ch_mult.size())), num_res_blocks(cfg.num_res_blocks) {
    TC_CHECK(num_resolutions > 0 && num_res_blocks > 0, "VAE decoder: empty ch_mult or num_res_blocks");
    const auto level_channels = [&](int level) { return int64_t(cfg.ch) * cfg.ch_mult[size_t(level)]; };
    const int top = num_resolutions - 1;
    const int64_t bottom_channels = level_channels(top);

    conv_in = &child<Conv2d>("conv_in", cfg.z_channels, bottom_channels, 3, 1, 1);
    mid = &child<VAEMid<VideoResBlock>>("mid", bottom_channels);

    // The official constructor walks the levels from the top down and prepends; declaring them in index
    // order gives the same names. Level l takes the channels of level l+1 (the top level its own) and runs
    // at resolution / 2^l.
    up = &child<ModuleList>("up");
    attn_refinement = &child<ModuleList>("attn_refinement");
    for (int level = 0; level < num_resolutions; ++level) {
        const int64_t block_in = level_channels(std::min(level + 1, top));
        const int64_t block_out = level_channels(level);
        const int64_t curr_res = (cfg.resolution >> top) << (top - level);
        const bool with_attn = std::find(cfg.attn_resolutions.begin(), cfg.attn_resolutions.end(), curr_res) !=
                               cfg.attn_resolutions.end();
        up->add<VAEDecoderLevel>(block_in, block_out, num_res_blocks + 1, with_attn, level != 0);
        if (is_fusion_level(level))
            attn_refinement->add<FusionCrossAttention>(block_out, cfg.fusion_heads, cfg.fusion_dim_head);
        else
            attn_refinement->add<Combiner>(block_out);
    }
    const int64_t out_channels = level_channels(0);
    attn_refinement->add<Combiner>(out_channels);  // after norm_out, with the conv_in features
    norm_out = &child<GroupNorm>("norm_out", kVaeGroups, out_channels, kVaeNormEps);
    conv_out = &child<AE3DConv>("conv_out", out_channels, cfg.out_ch);
}

Tensor VAEDecoder::forward(const Tensor& z, const std::vector<Tensor>& ref_context, int64_t timesteps) const {
    TC_CHECK(z.dim() == 4 && z.size(1) == conv_in->in, "VAE decoder: expected z [B*T, ", conv_in->in,
             ", h, w], got ", z.describe());
    TC_CHECK(timesteps > 0 && z.size(0) % timesteps == 0, "VAE decoder: ", z.size(0),
             " frames are not a multiple of timesteps ", timesteps);
    const bool refine = !ref_context.empty();
    TC_CHECK(!refine || ref_context.size() == size_t(num_resolutions + 1), "VAE decoder: expected ",
             num_resolutions + 1, " ref_context maps, got ", ref_context.size());

    Tensor h = conv_in->forward(z);  // [B*T, C_top, h, w]
    h = mid->block_1->forward(h, timesteps);
    h = mid->attn_1->forward(h);
    h = mid->block_2->forward(h, timesteps);

    for (int level = num_resolutions - 1; level >= 0; --level) {
        const auto& lv = up->at<VAEDecoderLevel>(size_t(level));
        for (size_t i = 0; i < lv.block->size(); ++i) {
            h = lv.block->at<VideoResBlock>(i).forward(h, timesteps);
            if (lv.attn->size() > 0) h = lv.attn->at<AttnBlock>(i).forward(h);
        }
        if (refine) {
            const Tensor& ctx = ref_context[size_t(level)];
            if (is_fusion_level(level))
                h = attn_refinement->at<FusionCrossAttention>(size_t(level)).forward(h, ctx);
            else
                h = attn_refinement->at<Combiner>(size_t(level)).forward(h, ctx);
        }
        if (lv.upsample) h = lv.upsample->forward(h);
    }

    h = norm_out->forward(h, Activation::SiLU);
    if (refine) h = attn_refinement->at<Combiner>(size_t(num_resolutions)).forward(h, ref_context.back());
    return conv_out->forward(h, timesteps);  // [B*T, out_ch, H, W]
}

}  // namespace tc
