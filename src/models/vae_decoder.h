// The dual-reference video decoder of ToonCrafter's autoencoder: lvdm/models/autoencoder_dualref.py
// VideoDecoder (time_mode "conv-only", video_kernel_size (3,1,1), merge_strategy "learned") on top of its
// Decoder, which adds `attn_refinement`: after the blocks of each level the frames are refined with the
// encoder's hidden states of frame 0 and frame T-1 (fusion cross-attention on levels 2 and 3, a Combiner
// elsewhere), and once more (a Combiner with the conv_in features) after norm_out.
// Names below `first_stage_model.decoder.`: conv_in, mid.{block_1, attn_1, block_2}, up.N.{block.M, attn.M,
// upsample}, attn_refinement.{0..L}, norm_out, conv_out{, .time_mix_conv}.
#pragma once

#include "io/model_config.h"
#include "models/vae_encoder.h"

namespace tc {

// One resolution level of the decoder (num_res_blocks + 1 VideoResBlocks, optional attention, and an
// upsampler on every level but level 0).
class VAEDecoderLevel : public Module {
public:
    VAEDecoderLevel(int64_t block_in, int64_t block_out, int num_blocks, bool with_attn, bool with_upsample);
    ModuleList* block;
    ModuleList* attn;
    Upsample* upsample = nullptr;
};

class VAEDecoder : public Module {
public:
    explicit VAEDecoder(const VAEConfig& cfg);

    // z [B*T, z_channels, h, w]; ref_context: one [B, C_l, 2, h_l, w_l] map per level and the conv_in map
    // (num_resolutions + 1 tensors), or empty for no refinement (the official `if ref_context:`).
    // Returns [B*T, out_ch, H, W].
    Tensor forward(const Tensor& z, const std::vector<Tensor>& ref_context, int64_t timesteps) const;

    bool is_fusion_level(int level) const;

    int num_resolutions, num_res_blocks;
    Conv2d* conv_in;
    VAEMid<VideoResBlock>* mid;
    ModuleList* up;               // indexed by level, run from the highest level down
    ModuleList* attn_refinement;  // [level 0 .. L-1] then the final Combiner
    GroupNorm* norm_out;
    AE3DConv* conv_out;
};

}  // namespace tc
